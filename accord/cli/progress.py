"""Progress display for long transfers: a rich bar on a terminal, nothing otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def byte_progress(read: Callable[[int], bytes], total: int | None, label: str
                  ) -> Iterator[Callable[[int], bytes]]:
    """Wrap ``read`` so that bytes consumed advance a progress bar on stderr, if it is a terminal."""
    if not sys.stderr.isatty():
        yield read
        return
    # Imported here: rich costs 30 ms at start-up and scripts (no terminal) never need it.
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(label, total=total)

        def counted(n: int) -> bytes:
            data = read(n)
            progress.advance(task, len(data))
            return data

        yield counted
