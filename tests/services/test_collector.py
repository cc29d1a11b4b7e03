"""services/collector.py: bulk work raises the collector's threshold while any of it runs, and
the last to finish puts back what was there, however the threads' work interleaves."""

from __future__ import annotations

import gc
import threading

from accord.services.collector import BULK_THRESHOLD, bulk_gc


def test_overlapping_bulk_work_in_threads_restores_the_threshold_last() -> None:
    before = gc.get_threshold()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def a() -> None:
        with bulk_gc():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b() -> None:
        a_in.wait(5)
        with bulk_gc():
            b_in.set()
            a_out.wait(5)
            seen["after a left"] = gc.get_threshold()[0]  # a finished first: still raised for b

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["after a left"] == BULK_THRESHOLD
    assert gc.get_threshold() == before


def test_the_threshold_comes_back_after_an_error() -> None:
    before = gc.get_threshold()
    try:
        with bulk_gc():
            assert gc.get_threshold()[0] == BULK_THRESHOLD
            raise RuntimeError("bulk work failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
