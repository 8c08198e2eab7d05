"""The embedded durable queue: one SQLite file, no server.

Accepted tasks survive a crash of the service (WAL, ``synchronous=NORMAL``: a
committed task is on disk once the process is gone; power loss may drop the
last commits). One connection is used from one dedicated thread, so the event
loop never blocks on disk and writes from this process never contend. Meant for
one replica per file; use Redis to spread one service over several processes.

A file that is briefly unavailable (locked by another program past a short busy
timeout, its disk full, an I/O error) raises :class:`QueueUnavailableError`
from the one place that talks to sqlite3 (:meth:`SQLiteTaskQueue._run`): the
runtime answers 503 and waits for the file instead of crashing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from plugin_core.paths import outlive_home, private_dir
from plugin_core.workflow.errors import QueueUnavailableError
from plugin_core.workflow.models import TaskEvent, TaskRecord, TaskState
from plugin_core.workflow.queue import TaskQueue, requeued_record, start_record

T = TypeVar("T")

_BUSY_TIMEOUT = 2.0  # seconds a write waits for another program's lock before it is an outage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outlive_tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    replica_id TEXT,
    record TEXT NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS ix_outlive_tasks_state ON outlive_tasks (state, seq);
CREATE INDEX IF NOT EXISTS ix_outlive_tasks_finished ON outlive_tasks (finished_at);
CREATE TABLE IF NOT EXISTS outlive_queue_ping (id INTEGER PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outlive_task_events (
    task_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (task_id, seq)
);
"""


def default_queue_path(service_name: str) -> Path:
    """``$OUTLIVE_HOME/workflow/<service>.queue.db``: outlives the service's runtime directory."""
    return private_dir(outlive_home() / "workflow") / f"{service_name}.queue.db"


class SQLiteTaskQueue(TaskQueue):
    """Tasks as rows; claiming is one ``BEGIN IMMEDIATE`` transaction."""

    durable = True

    def __init__(
        self, path: str, *, poll_interval: float = 0.1, result_ttl: float = 86400.0
    ) -> None:
        super().__init__(poll_interval)
        self.path = path
        self.result_ttl = result_ttl
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="workflow-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._wakeup = asyncio.Semaphore(0)
        self._closing = False

    async def open(self) -> None:
        await self._run(self._connect)

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._thread.shutdown(wait=True)

    async def ping(self) -> None:
        await self._run(self._ping)

    async def put(
        self, record: TaskRecord, limit: int, replica_id: str | None = None
    ) -> TaskRecord | None:
        started = (
            start_record(record, replica_id) if replica_id and self._promise(replica_id) else None
        )
        try:
            stored = await self._run(lambda: self._put(started or record, limit))
        except BaseException:
            if started is not None:
                self._withdraw()
            raise
        if started is not None:
            if stored is started:
                self._deliver(started)
            else:
                self._withdraw()
        if stored is record or (started is not None and stored is started):
            self._wakeup.release()
        return stored

    async def adopt(self, record: TaskRecord) -> TaskRecord:
        stored = await self._run(lambda: self._put(record, 0))
        assert stored is not None  # a RUNNING record is never refused by the limit
        return stored

    def interrupt(self) -> None:
        self._closing = True
        for _ in range(1024):
            self._wakeup.release()

    async def claim(self, replica_id: str, wait: float) -> TaskRecord | None:
        handed = self._take_handoff()
        if handed is not None or self._closing:
            return handed
        record = await self._run(lambda: self._claim(replica_id))
        if record is None:
            handed = await self._idle_wait(self._wakeup, wait)
            if handed is not None or self._closing:
                return handed
            record = await self._run(lambda: self._claim(replica_id))
        return record

    async def _store_final(self, record: TaskRecord) -> None:
        await self._run(lambda: self._update(record, finished_at=record.finished_at))

    async def release(self, record: TaskRecord) -> None:
        await self._run(lambda: self._update(requeued_record(record), finished_at=None))

    async def get(self, task_id: str) -> TaskRecord | None:
        return await self._run(lambda: self._get(task_id))

    async def backlog(self) -> int:
        return await self._run(self._count_queued)

    async def recover(self, replica_id: str, live_replicas: Collection[str]) -> int:
        return await self._run(lambda: self._recover(set(live_replicas) | {replica_id}))

    async def _append_event(self, task_id: str, data: Any) -> int:
        return await self._run(lambda: self._insert_event(task_id, data))

    async def read_events(self, task_id: str, after: int = 0) -> list[TaskEvent]:
        return await self._run(lambda: self._select_events(task_id, after))

    # -- runs on the queue's own thread -------------------------------------------------------

    async def _run(self, call: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, call)
        except sqlite3.OperationalError as exc:  # locked, disk full, I/O error, file gone
            raise QueueUnavailableError(self.path, f"sqlite: {exc}") from None

    def _ping(self) -> None:
        """A real (tiny) write: it needs the write lock and room in the WAL, as tasks do."""
        with self._immediate() as db:
            db.execute(
                "INSERT OR REPLACE INTO outlive_queue_ping (id, at) VALUES (1, ?)", (time.time(),)
            )

    def _connect(self) -> None:
        path = Path(self.path)
        private_dir(path.parent)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"task queue {self.path} is not open")
        return self._conn

    def _put(self, record: TaskRecord, limit: int) -> TaskRecord | None:
        with self._immediate() as db:
            existing = self._get(record.task_id)
            if existing is not None:
                return existing
            if record.state == TaskState.QUEUED and self._count_queued() >= limit:
                return None
            db.execute(
                "INSERT INTO outlive_tasks (task_id, state, replica_id, record) "
                "VALUES (?, ?, ?, ?)",
                (record.task_id, record.state.value, record.replica_id, record.model_dump_json()),
            )
            return record

    def _claim(self, replica_id: str) -> TaskRecord | None:
        with self._immediate() as db:
            row = db.execute(
                "SELECT record FROM outlive_tasks WHERE state = 'queued' ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            record = start_record(TaskRecord.model_validate_json(row[0]), replica_id)
            self._update(record, finished_at=None)
            return record

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so claims from two processes serialise."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:  # SQLITE_FULL may already have rolled the transaction back
                db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.OperationalError:
            if db.in_transaction:  # a failed COMMIT (disk full) leaves the transaction open
                db.execute("ROLLBACK")
            raise

    def _update(self, record: TaskRecord, *, finished_at: float | None) -> None:
        self._db.execute(
            "UPDATE outlive_tasks SET state = ?, replica_id = ?, record = ?, finished_at = ? "
            "WHERE task_id = ?",
            (
                record.state.value,
                record.replica_id,
                record.model_dump_json(),
                finished_at,
                record.task_id,
            ),
        )

    def _get(self, task_id: str) -> TaskRecord | None:
        row = self._db.execute(
            "SELECT record FROM outlive_tasks WHERE task_id = ?", (task_id,)
        ).fetchone()
        return None if row is None else TaskRecord.model_validate_json(row[0])

    def _count_queued(self) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM outlive_tasks WHERE state = 'queued'"
        ).fetchone()
        return int(row[0])

    def _recover(self, live: set[str]) -> int:
        with self._immediate() as db:
            rows = db.execute(
                "SELECT record, replica_id FROM outlive_tasks WHERE state = 'running'"
            ).fetchall()
            orphans = [
                TaskRecord.model_validate_json(rec) for rec, owner in rows if owner not in live
            ]
            for record in orphans:
                self._update(requeued_record(record), finished_at=None)
            self._prune(time.time() - self.result_ttl)
            return len(orphans)

    def _prune(self, before: float) -> None:
        finals = tuple(state.value for state in TaskState if state.is_final)
        marks = ", ".join("?" * len(finals))
        old = f"SELECT task_id FROM outlive_tasks WHERE state IN ({marks}) AND finished_at < ?"
        self._db.execute(
            f"DELETE FROM outlive_task_events WHERE task_id IN ({old})", (*finals, before)
        )
        self._db.execute(f"DELETE FROM outlive_tasks WHERE task_id IN ({old})", (*finals, before))

    def _insert_event(self, task_id: str, data: Any) -> int:
        row = self._db.execute(
            "INSERT INTO outlive_task_events (task_id, seq, data, at) VALUES (?, "
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM outlive_task_events WHERE task_id = ?), ?, ?) "
            "RETURNING seq",
            (task_id, task_id, json.dumps(data), time.time()),
        ).fetchone()
        return int(row[0])

    def _select_events(self, task_id: str, after: int) -> list[TaskEvent]:
        rows = self._db.execute(
            "SELECT seq, data, at FROM outlive_task_events WHERE task_id = ? AND seq > ? "
            "ORDER BY seq",
            (task_id, after),
        ).fetchall()
        return [
            TaskEvent(task_id=task_id, seq=seq, data=json.loads(data), at=at)
            for seq, data, at in rows
        ]
