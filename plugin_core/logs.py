"""Reading service logs: the last lines without reading the whole file, and following new ones."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_BLOCK = 64 * 1024


def tail_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of ``path``, read backwards in blocks (fast on a 1 GB file)."""
    if count <= 0:
        return []
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the `with` below
    except FileNotFoundError:
        return []
    with handle:
        end = handle.seek(0, os.SEEK_END)
        position, chunks, newlines = end, [], 0
        while position > 0 and newlines <= count:
            step = min(_BLOCK, position)
            position -= step
            handle.seek(position)
            chunk = handle.read(step)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
    data = b"".join(reversed(chunks))
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:]


def follow_lines(
    path: Path,
    *,
    tail: int | None,
    keep_going: Callable[[], bool],
    poll_interval: float = 0.2,
) -> Iterator[str]:
    """Yield the last ``tail`` lines (all if None), then new lines as they are written.

    Survives rotation (the file is reopened when its inode changes) and ends once
    ``keep_going()`` is False and nothing new is left to read. A stream (``tail -f``), not a
    wait: it reads again every ``poll_interval`` for as long as the caller keeps going.
    """
    if tail is not None:
        yield from tail_lines(path, tail)
        offset = path.stat().st_size if path.exists() else 0
    else:
        offset = 0
    inode = path.stat().st_ino if path.exists() else None
    pending = b""
    finishing = False
    while True:
        try:
            stat = path.stat()
        except FileNotFoundError:
            stat = None
        if stat is not None and (stat.st_ino != inode or stat.st_size < offset):
            inode, offset = stat.st_ino, 0
        data = b""
        if stat is not None and stat.st_size > offset:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
            offset += len(data)
        if data:
            pending += data
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.decode("utf-8", errors="replace")
            continue
        if finishing or not keep_going():
            if not finishing:  # one more read: lines written just before the end count too
                finishing = True
                continue
            if pending:
                yield pending.decode("utf-8", errors="replace")
            return
        time.sleep(poll_interval)
