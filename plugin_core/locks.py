"""A per-name lock across processes on this machine, so concurrent starts of one name make one service."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

from plugin_core.paths import outlive_home, private_dir


@contextmanager
def name_lock(name: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` for ``name`` (released even if the holder is killed)."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    path = private_dir(outlive_home() / "locks") / f"{digest}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
