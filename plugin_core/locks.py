"""The building blocks of a claim: exclusive for one name, nestable within a thread.

:meth:`plugin_core.registry.store.ServiceRegistry.claim` is the one claim callers use; it
picks the lock the registry can enforce: PostgreSQL's advisory lock for a registry shared by
several hosts, a ``flock`` beside the database for SQLite (one host by construction). This
module holds what both need: the nesting rule, the file lock and a stable 64-bit key.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from plugin_core.paths import private_dir

_HELD = threading.local()
_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_LOCKS_GUARD = threading.Lock()


@contextmanager
def held_once(key: str, acquire: Callable[[], AbstractContextManager[None]]) -> Iterator[None]:
    """Run the block holding ``acquire()``, unless this thread already holds ``key``.

    Claims nest (an update holds the claim and restarts through start, which claims again);
    re-acquiring would deadlock, since neither a second ``flock`` nor a second database
    session counts as the same holder.
    """
    held: dict[str, int] = _HELD.__dict__.setdefault("keys", {})
    if key in held:
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    with acquire():
        held[key] = 1
        try:
            yield
        finally:
            del held[key]


def digest(*parts: str) -> str:
    """A file-name-safe digest of ``parts``."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit key for ``parts`` (PostgreSQL advisory locks take a bigint)."""
    raw = hashlib.sha256(("outlive\0" + "\0".join(parts)).encode()).digest()[:8]
    return int.from_bytes(raw, "big", signed=True)


@contextmanager
def file_lock(directory: Path, *parts: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on a file in ``directory`` named after ``parts``
    (released by the kernel even if the holder is killed)."""
    path = private_dir(directory) / f"{digest(*parts)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextmanager
def memory_lock(*parts: str) -> Iterator[None]:
    """A lock within this process only: for an in-memory database, which no one else sees."""
    key = digest(*parts)
    with _MEMORY_LOCKS_GUARD:
        lock = _MEMORY_LOCKS.setdefault(key, threading.Lock())
    with lock:
        yield


def _hold_nothing_after_fork() -> None:
    """A forked child (a daemon forked from its starter) holds none of its parent's claims:
    its copy of the parent's flock descriptor is not the parent's hold, and the parent's
    in-process locks are the parent's. Forget them, so a claim in the child really waits."""
    global _MEMORY_LOCKS_GUARD
    _HELD.__dict__.pop("keys", None)
    _MEMORY_LOCKS.clear()
    _MEMORY_LOCKS_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_hold_nothing_after_fork)
