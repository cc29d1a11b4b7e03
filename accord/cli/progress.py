"""Progress display for long transfers: a rich bar on a terminal, nothing otherwise."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO


@contextmanager
def count_progress(label: str, total: int | None, *, unit: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr counting ``unit`` (bytes or objects), or None when not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    amount = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    with Progress(TextColumn("{task.description}"), BarColumn(), amount, TimeElapsedColumn(),
                  transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


class _Counted(io.RawIOBase):
    def __init__(self, raw: BinaryIO, advance: Callable[[int], None]):
        self._raw = raw
        self._advance = advance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._advance(n)
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def counting_stream(raw: BinaryIO, advance: Callable[[int], None]) -> BinaryIO:
    """``raw`` as a buffered binary stream whose reads advance a progress bar."""
    return io.BufferedReader(_Counted(raw, advance), buffer_size=1 << 20)
