"""A Serve app's replica logs: read once, or followed as they are written (``get_logs``).

Following streams each replica's log file through Ray's log API
(:meth:`~plugin_core.backends._serve_api.ServeApi.log_stream`: one request that stays open,
fed by the node's agent as the file grows), read by a thread of its own into one queue that
the caller's generator drains. Serve's status is read every ``STATUS_EVERY`` seconds, and
that is the only polling: a replica that appears (a scale-up, a replacement after a crash)
is followed from the start of its file; one that is gone is let go; the app leaving the
cluster (stopped, or removed) ends the generator once the last lines are in. The caller
ends it sooner by sending ``True`` (ZenML's protocol) or by closing it; the threads and
their requests end with it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from plugin_core.backends._serve_api import (
    LOG_STREAM_INTERVAL,
    LogStream,
    RayClusterError,
    ServeApi,
)

STATUS_EVERY = 2.0  # seconds between looks at which replicas the app has
FINAL_WAIT = 3 * LOG_STREAM_INTERVAL  # after the app is gone: the agents' last sends

#: replica id -> (node id, the log file's path under the node's log directory)
LogFiles = dict[str, tuple[str, str]]


def log_files(status: dict[str, Any], app_name: str) -> LogFiles | None:
    """The log files of the app's replicas, from Serve's status; None when the app is gone."""
    app = (status.get("applications") or {}).get(app_name)
    if app is None:
        return None
    files: LogFiles = {}
    for deployment in (app.get("deployments") or {}).values():
        for replica in deployment.get("replicas") or []:
            path, node = replica.get("log_file_path"), replica.get("node_id")
            if path and node:
                files[str(replica.get("replica_id"))] = (str(node), str(path))
    return files


def read_logs(api: ServeApi, app_name: str, tail: int | None) -> Iterator[tuple[str, list[str]]]:
    """Each replica's last ``tail`` lines (all: None), as they stand."""
    for replica_id, (node, path) in (log_files(api.status(), app_name) or {}).items():
        try:
            lines = api.log_lines(node, path, tail)
        except RayClusterError:  # a replica still starting has no file yet
            continue
        yield replica_id, lines


def follow_logs(api: ServeApi, app_name: str, tail: int | None) -> Generator[str, bool, None]:
    """The last ``tail`` lines of each replica's log, then new lines as they are written, each
    prefixed with its replica's id, until the app is gone or the caller sends ``True``."""
    followers = _Followers(api)
    try:
        while True:
            files = log_files(api.status(), app_name)
            if files is None:
                break
            followers.sync(files, tail)
            for replica_id, line in followers.lines(until=time.monotonic() + STATUS_EVERY):
                if (yield f"[{replica_id}] {line}"):
                    return
        for replica_id, line in followers.lines(until=time.monotonic() + FINAL_WAIT):
            if (yield f"[{replica_id}] {line}"):
                return
    finally:
        followers.close()


@dataclass
class _Follower:
    """One replica's log file, followed by one thread."""

    replica_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    stream: LogStream | None = None  # once open; a stream that ends is never reopened

    def end(self) -> None:
        self.stop.set()
        if self.stream is not None:  # set by the thread once open; it checks `stop` after
            self.stream.abort()


class _Followers:
    """The threads following the replicas' files, feeding one queue of lines and events."""

    def __init__(self, api: ServeApi) -> None:
        self.api = api
        self.queue: queue.Queue[tuple[str, str, str]] = queue.Queue()
        self.followers: dict[str, _Follower] = {}
        self.initial: set[str] | None = None  # the replicas of the first look get `tail`

    def sync(self, files: LogFiles, tail: int | None) -> None:
        """Follow new replicas' files; let go of replicas that are gone."""
        if self.initial is None:
            self.initial = set(files)
        for replica_id in set(self.followers) - set(files):
            self.followers.pop(replica_id).end()
        for replica_id, (node, path) in files.items():
            if replica_id in self.followers:
                continue
            follower = self.followers[replica_id] = _Follower(replica_id)
            lines = tail if replica_id in self.initial else None
            threading.Thread(
                target=self._read, args=(follower, node, path, lines), daemon=True,
                name=f"outlive-log-{replica_id}",
            ).start()

    def lines(self, until: float) -> Iterator[tuple[str, str]]:
        """(replica id, line) as they arrive, until the monotonic time ``until``."""
        while (left := until - time.monotonic()) > 0:
            try:
                kind, replica_id, text = self.queue.get(timeout=left)
            except queue.Empty:
                return
            if kind == "line":
                yield replica_id, text
                continue
            if kind == "empty" and self.initial is not None:
                self.initial.discard(replica_id)  # all its lines come after the follow began
            self.followers.pop(replica_id, None)  # "empty" or "failed": not open, tried again

    def close(self) -> None:
        for follower in self.followers.values():
            follower.end()
        self.followers.clear()

    def _read(self, follower: _Follower, node: str, path: str, lines: int | None) -> None:
        """The thread: stream one file into the queue until it ends or ``follower.stop``.

        A file with no line yet (Ray answers 500 for a missing and for an empty file alike)
        is not streamed: Ray sends a stream's headers only with its first chunk, and a
        request waiting for them could not be aborted. It is tried again at the next look,
        from its start, since all its lines come after the follow began. Ray's agent reads
        ``lines=0`` as 1000, so a tail of 0 asks for the last line and drops it.
        """
        rid = follower.replica_id
        try:
            has_lines = bool(self.api.log_lines(node, path, 1))
        except RayClusterError:
            has_lines = False
        if not has_lines:
            self.queue.put(("empty", rid, ""))
            return
        skip = 1 if lines == 0 else 0
        try:
            with self.api.log_stream(node, path, 1 if lines == 0 else lines) as stream:
                follower.stream = stream
                for text in stream.lines():
                    if follower.stop.is_set():
                        return
                    if skip:
                        skip -= 1
                        continue
                    self.queue.put(("line", rid, text))
        except RayClusterError:
            if follower.stream is None and not follower.stop.is_set():
                self.queue.put(("failed", rid, ""))  # tried again at the next look
