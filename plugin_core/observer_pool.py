"""The process's one pool of status-observation threads, and its release before a fork.

One pool, created on first use: starting 16 threads per refresh costs ~1 ms each on a busy
machine (the caller waits for every thread's start handshake). Its idle threads would
otherwise live as long as the process and make it multi-threaded for good, which turns
off the forked daemon start (:func:`plugin_core.fork_launch.fork_is_safe` forks only a
single-threaded process); :func:`release_if_idle` lets the starter hand them back first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

WORKERS = 16  # observations at once: probes wait on the network, not on the GIL

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_batches = 0  # batches in flight: the pool is idle at 0


@contextmanager
def observer_pool() -> Iterator[ThreadPoolExecutor]:
    """The shared pool, held for one batch of observations (kept alive while any batch runs)."""
    global _pool, _batches
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="outlive-refresh")
        _batches += 1
        pool = _pool
    try:
        yield pool
    finally:
        with _lock:
            _batches -= 1


def release_if_idle() -> None:
    """Shut the pool down and join its threads if no batch is running (the next batch makes
    a new one); a running batch keeps it, and the process stays multi-threaded."""
    global _pool
    with _lock:
        if _pool is None or _batches:
            return
        pool, _pool = _pool, None
    pool.shutdown(wait=True)
