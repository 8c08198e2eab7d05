"""Task intake: the queue between ``POST /tasks`` and the workers.

Unlike llama_deploy, where the broker message was acked once it sat in an
unbounded in-memory dict, a task here is acknowledged to the client only after
the queue stored it, it leaves the queue only when its final record is written,
and :meth:`TaskQueue.put` refuses new work past a limit instead of growing.

Delivery is at-least-once: a task running when its process dies (or whose final
record could not be stored before the process gave up) is requeued and runs
again; its record's ``attempts`` tells the client how often it started.

The limit is exact: "waiting" means stored and not yet handed to a worker, and a
task counts as taken at the moment the queue hands it out. When a worker of this
replica is idle, :meth:`TaskQueue.put` hands the new task to it in the same step
that stores it (the task is stored RUNNING), so a burst never shows more than
``limit`` tasks waiting, not even for the instant before a worker wakes.
Backends: :class:`MemoryTaskQueue` (fastest, lost on restart),
``SQLiteTaskQueue`` (default; durable, no server) and ``RedisTaskQueue``
(Streams with a consumer group: replicas compete, each task goes to one).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Collection
from typing import Any

from plugin_core.errors import ConfigError
from plugin_core.model.probe_policy import ProbePolicy
from plugin_core.waiting import await_until
from plugin_core.workflow.models import TaskEvent, TaskRecord, TaskState

_FINISHED_KEPT_IN_MEMORY = 10_000


class TaskQueue(ABC):
    """Durable (or not) storage of tasks, their final records and their events.

    Subclasses implement storage; this base adds local wake-ups so a waiter in
    the same process hears of a result at once, and polls every ``poll_interval``
    for results written by other processes.
    """

    durable: bool = False

    def __init__(self, poll_interval: float = 0.1) -> None:
        self.poll_interval = poll_interval
        self._polls = ProbePolicy(
            initial_interval=poll_interval, fast_phase=0, backoff=1.0, period=poll_interval
        )
        self._signals: dict[str, asyncio.Event] = {}
        self._idle = 0  # local workers waiting in claim()
        self._promised = 0  # tasks being handed to idle workers (put in progress or delivered)
        self._handoff: deque[TaskRecord] = deque()

    async def ping(self) -> None:  # noqa: B027 - optional hook: nothing to reach in memory
        """Raise :class:`QueueUnavailableError` unless the queue can take writes now."""

    async def open(self) -> None:  # noqa: B027 - optional hook, most backends need it
        """Connect and create what is missing (tables, consumer group)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def interrupt(self) -> None:  # noqa: B027 - optional hook
        """Make pending and future :meth:`claim` calls return None soon (shutdown)."""

    @abstractmethod
    async def put(
        self, record: TaskRecord, limit: int, replica_id: str | None = None
    ) -> TaskRecord | None:
        """Store a QUEUED task; the stored record (an earlier one with the same id wins),
        or None when ``limit`` tasks already wait.

        With ``replica_id`` and an idle local worker, the task is stored RUNNING on that
        replica and handed to the worker at once (it never waits, so ``limit`` does not apply).
        """

    @abstractmethod
    async def adopt(self, record: TaskRecord) -> TaskRecord:
        """Store a RUNNING task that its replica runs without claiming it (a direct call);
        an existing record with that id wins and is returned instead."""

    @abstractmethod
    async def claim(self, replica_id: str, wait: float) -> TaskRecord | None:
        """The oldest waiting task, now RUNNING on ``replica_id``; None after ``wait`` seconds."""

    def unclaimed(self) -> list[TaskRecord]:
        """Tasks handed to workers that stopped before taking them (shutdown): release them."""
        records = list(self._handoff)
        self._handoff.clear()
        self._promised = 0
        return records

    def _promise(self, replica_id: str | None) -> bool:
        """Reserve an idle worker for the task being put; the caller delivers or withdraws."""
        if replica_id is None or self._promised >= self._idle:
            return False
        self._promised += 1
        return True

    def _deliver(self, record: TaskRecord) -> None:
        self._handoff.append(record)

    def _withdraw(self) -> None:
        self._promised -= 1

    def _take_handoff(self) -> TaskRecord | None:
        if not self._handoff:
            return None
        self._promised -= 1
        return self._handoff.popleft()

    async def _idle_wait(self, wakeup: asyncio.Semaphore, wait: float) -> TaskRecord | None:
        """Wait for a wake-up as an idle worker; a task handed over meanwhile is returned."""
        self._idle += 1
        try:
            await asyncio.wait_for(wakeup.acquire(), wait)
        except asyncio.TimeoutError:
            pass
        finally:
            self._idle -= 1
        return self._take_handoff()

    @abstractmethod
    async def _store_final(self, record: TaskRecord) -> None:
        """Write the final record and acknowledge the task."""

    @abstractmethod
    async def release(self, record: TaskRecord) -> None:
        """Give back a task this replica will not finish (shutdown); it runs again later."""

    @abstractmethod
    async def get(self, task_id: str) -> TaskRecord | None:
        """The task's current record, or None if unknown (or expired)."""

    @abstractmethod
    async def backlog(self) -> int:
        """How many tasks wait to be claimed."""

    @abstractmethod
    async def recover(self, replica_id: str, live_replicas: Collection[str]) -> int:
        """Requeue tasks held by replicas not in ``live_replicas``; returns how many."""

    @abstractmethod
    async def _append_event(self, task_id: str, data: Any) -> int:
        """Store one event and return its sequence number (from 1)."""

    @abstractmethod
    async def read_events(self, task_id: str, after: int = 0) -> list[TaskEvent]:
        """Events of ``task_id`` with ``seq > after``, in order."""

    async def finish(self, record: TaskRecord) -> None:
        """Store the final record and wake local waiters."""
        await self._store_final(record)
        self._signal(record.task_id)

    async def append_event(self, task_id: str, data: Any) -> int:
        """Store an event and wake local streamers."""
        seq = await self._append_event(task_id, data)
        self._signal(task_id)
        return seq

    async def wait_final(self, task_id: str, timeout: float) -> TaskRecord | None:
        """The record once final, or as it is when ``timeout`` passes; None if unknown.

        Between reads it sleeps on the task's signal, so a result finished in this process
        ends the sleep at once; one written by another process is read within a poll.
        """
        signal = asyncio.Event()
        last: list[TaskRecord | None] = [None]

        async def settled() -> bool | None:
            nonlocal signal
            # a fresh signal unless one is pending, taken before reading: no wake-up is lost
            signal = self._signals.setdefault(task_id, asyncio.Event())
            last[0] = record = await self.get(task_id)
            return True if record is None or record.is_final else None

        async def sleep(seconds: float) -> None:
            await _wait_event(signal, seconds)

        await await_until(settled, timeout=max(timeout, 0.0), policy=self._polls, sleep=sleep)
        return last[0]

    async def wait_events(self, task_id: str, after: int, timeout: float) -> list[TaskEvent]:
        """Events after ``after``, waiting up to ``timeout`` for the first one."""
        signal = self._signals.setdefault(task_id, asyncio.Event())
        events = await self.read_events(task_id, after)
        if not events:
            await _wait_event(signal, min(timeout, self.poll_interval))
            events = await self.read_events(task_id, after)
        return events

    def _signal(self, task_id: str) -> None:
        signal = self._signals.pop(task_id, None)
        if signal is not None:
            signal.set()


async def _wait_event(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


class MemoryTaskQueue(TaskQueue):
    """In-process queue: nothing survives a restart; tasks interrupted by shutdown are CANCELLED."""

    def __init__(self, poll_interval: float = 0.1) -> None:
        super().__init__(poll_interval)
        self._records: OrderedDict[str, TaskRecord] = OrderedDict()
        self._events: dict[str, list[TaskEvent]] = {}
        self._ready: deque[str] = deque()
        self._wakeup = asyncio.Semaphore(0)
        self._finished: deque[str] = deque()
        self._closing = False

    async def put(
        self, record: TaskRecord, limit: int, replica_id: str | None = None
    ) -> TaskRecord | None:
        existing = self._records.get(record.task_id)
        if existing is not None:
            return existing
        if replica_id is not None and self._promise(replica_id):
            started = start_record(record, replica_id)
            self._records[record.task_id] = started
            self._deliver(started)
            self._wakeup.release()
            return started
        if len(self._ready) >= limit:
            return None
        self._records[record.task_id] = record
        self._ready.append(record.task_id)
        self._wakeup.release()
        return record

    def interrupt(self) -> None:
        self._closing = True
        for _ in range(1024):
            self._wakeup.release()

    async def adopt(self, record: TaskRecord) -> TaskRecord:
        return self._records.setdefault(record.task_id, record)

    async def claim(self, replica_id: str, wait: float) -> TaskRecord | None:
        handed = self._take_handoff()
        if handed is not None or self._closing:
            return handed
        if not self._ready:
            handed = await self._idle_wait(self._wakeup, wait)
            if handed is not None or self._closing:
                return handed
        if not self._ready:
            return None
        record = start_record(self._records[self._ready.popleft()], replica_id)
        self._records[record.task_id] = record
        return record

    async def _store_final(self, record: TaskRecord) -> None:
        self._records[record.task_id] = record
        self._finished.append(record.task_id)
        while len(self._finished) > _FINISHED_KEPT_IN_MEMORY:
            old = self._finished.popleft()
            self._records.pop(old, None)
            self._events.pop(old, None)

    async def release(self, record: TaskRecord) -> None:
        await self.finish(
            record.model_copy(
                update={
                    "state": TaskState.CANCELLED,
                    "error": "the service stopped before the task finished (memory queue)",
                    "finished_at": time.time(),
                }
            )
        )

    async def get(self, task_id: str) -> TaskRecord | None:
        return self._records.get(task_id)

    async def backlog(self) -> int:
        return len(self._ready)

    async def recover(self, replica_id: str, live_replicas: Collection[str]) -> int:
        return 0

    async def _append_event(self, task_id: str, data: Any) -> int:
        events = self._events.setdefault(task_id, [])
        events.append(TaskEvent(task_id=task_id, seq=len(events) + 1, data=data))
        return len(events)

    async def read_events(self, task_id: str, after: int = 0) -> list[TaskEvent]:
        return list(self._events.get(task_id, [])[after:])


def start_record(record: TaskRecord, replica_id: str) -> TaskRecord:
    """The record of a task just claimed by ``replica_id``."""
    return record.model_copy(
        update={
            "state": TaskState.RUNNING,
            "replica_id": replica_id,
            "started_at": time.time(),
            "attempts": record.attempts + 1,
        }
    )


def requeued_record(record: TaskRecord) -> TaskRecord:
    """The record of a task given back to the queue."""
    return record.model_copy(
        update={"state": TaskState.QUEUED, "replica_id": None, "started_at": None}
    )


def open_queue(
    url: str, *, service_name: str, poll_interval: float, result_ttl: float, max_consumers: int
) -> TaskQueue:
    """Build the queue a ``queue_url`` names (see :class:`WorkflowServiceConfig`)."""
    if url in ("memory", "memory://"):
        return MemoryTaskQueue(poll_interval)
    if url == "sqlite" or url.startswith("sqlite://"):
        from plugin_core.workflow.queue_sqlite import SQLiteTaskQueue, default_queue_path

        path = url.split("///", 1)[1] if "///" in url else str(default_queue_path(service_name))
        return SQLiteTaskQueue(path, poll_interval=poll_interval, result_ttl=result_ttl)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from plugin_core.workflow.queue_redis import RedisTaskQueue

        return RedisTaskQueue(
            url,
            service_name=service_name,
            poll_interval=poll_interval,
            result_ttl=result_ttl,
            max_connections=max_consumers + 16,
        )
    raise ConfigError(
        f"queue_url {url!r} is not supported: use 'sqlite', 'sqlite:///path/queue.db', "
        "'memory' or 'redis://host:port/0'"
    )
