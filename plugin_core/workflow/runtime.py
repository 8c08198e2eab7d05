"""The running workflow service, without HTTP: intake, workers, control plane, draining.

``WorkflowRuntime`` is what the FastAPI app serves and what ``launch_local``
embeds. Start-up is ordered by facts, not sleeps: the queue is open and
orphaned tasks are requeued before the workers start, and the replica is
registered before ``/readyz`` says yes. Shutdown drains: no new tasks, running
ones get ``drain_timeout`` seconds, the rest go back to the queue (a durable
queue runs them again after a restart), then the replica deregisters.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from plugin_core.workflow.config import WorkflowServiceConfig
from plugin_core.workflow.control import ReplicaDirectory, new_replica_id
from plugin_core.workflow.errors import WorkflowBusyError
from plugin_core.workflow.executor import TaskExecutor
from plugin_core.workflow.models import TaskRecord, TaskSubmission, new_task_id
from plugin_core.workflow.queue import TaskQueue, open_queue
from plugin_core.workflow.session import SessionStore
from plugin_core.workflow.target import WorkflowTarget, load_target

log = logging.getLogger(__name__)

_CLAIM_WAIT = 1.0
_MAX_RETRY_AFTER = 60


class WorkflowRuntime:
    """One replica of a workflow service: owns the queue, the workers and the heartbeat."""

    def __init__(
        self,
        config: WorkflowServiceConfig,
        *,
        url: str,
        target: WorkflowTarget | None = None,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.config = config
        self.url = url
        self.replica_id = new_replica_id(config.service_name)
        self.target = target or load_target(config.workflow)
        self.queue: TaskQueue = open_queue(
            config.queue_url,
            service_name=config.service_name,
            poll_interval=config.step_interval,
            result_ttl=config.result_ttl,
            max_consumers=config.max_concurrent_tasks,
        )
        self.sessions = SessionStore(config.registry_url)
        self.replicas = ReplicaDirectory(config.registry_url)
        self.executor = TaskExecutor(
            self.target,
            max_concurrent_tasks=config.max_concurrent_tasks,
            task_timeout=config.task_timeout,
            raise_exceptions=config.raise_exceptions,
            sink=self.queue.append_event,
            sessions=self.sessions,
        )
        self.fatal: BaseException | None = None
        self.on_fatal = on_fatal
        self._workers: list[asyncio.Task[None]] = []
        self._heartbeat: asyncio.Task[None] | None = None
        self._inflight: dict[str, TaskRecord] = {}
        self._started = False
        self._draining = False

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the queue, requeue orphans, register, then start the workers and heartbeat."""
        await self.queue.open()
        ttl = self.config.effective_heartbeat_ttl
        await asyncio.to_thread(
            self.replicas.register, self.replica_id, self.config.service_name, self.url, ttl
        )
        await self._recover()
        self._workers = [
            asyncio.create_task(self._work(), name=f"workflow-worker-{i}")
            for i in range(self.config.max_concurrent_tasks)
        ]
        for worker in self._workers:
            worker.add_done_callback(self._worker_done)
        self._heartbeat = asyncio.create_task(self._beat(), name="workflow-heartbeat")
        self._started = True
        log.info("workflow service %s ready at %s", self.config.service_name, self.url)

    async def stop(self) -> None:
        """Drain, give unfinished tasks back to the queue, deregister, close."""
        self._draining = True
        self.queue.interrupt()
        if self._workers:
            _, pending = await asyncio.wait(self._workers, timeout=self.config.drain_timeout)
            for worker in pending:
                worker.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for record in list(self._inflight.values()):
            await self.queue.release(record)
        self._inflight.clear()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        await asyncio.to_thread(self.replicas.deregister, self.replica_id)
        await self.queue.close()
        self.executor.shutdown()
        self._started = False
        log.info("workflow service %s stopped and deregistered", self.config.service_name)

    # -- intake ---------------------------------------------------------------------------------

    async def submit(self, submission: TaskSubmission) -> TaskRecord:
        """Queue a task; raises :class:`WorkflowBusyError` (429 full, 503 draining)."""
        if not self._started or self._draining:
            raise WorkflowBusyError(self.url, 503, 5, "the service is starting or draining")
        record = TaskRecord(
            task_id=submission.task_id or new_task_id(),
            session_id=submission.session_id,
            input=submission.input,
        )
        free_slots = self.config.max_concurrent_tasks - self.executor.counts.running
        stored = await self.queue.put(record, self.config.max_queued_tasks + max(free_slots, 0))
        if stored is None:
            self.executor.counts.rejected += 1
            backlog = await self.queue.backlog()
            raise WorkflowBusyError(self.url, 429, self.retry_after(backlog), "task intake is full")
        return stored

    def retry_after(self, backlog: int) -> int:
        """Seconds until a slot is likely free: the backlog's share of recent task durations."""
        per_slot = self.executor.mean_duration() * (backlog + 1) / self.config.max_concurrent_tasks
        return max(1, min(_MAX_RETRY_AFTER, math.ceil(per_slot)))

    # -- views ----------------------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, str]:
        """Ready: workflow loaded, workers running, not draining, intake not full."""
        if not self._started or self._draining:
            return False, "draining" if self._draining else "starting"
        if self.fatal is not None or any(w.done() for w in self._workers):
            return False, "a worker stopped"
        backlog = await self.queue.backlog()
        if backlog >= self.config.max_queued_tasks and self.config.max_queued_tasks > 0:
            return False, f"task intake is full ({backlog} queued)"
        return True, "ready"

    async def info(self) -> dict[str, Any]:
        """What ``GET /`` shows: identity, state and counts."""
        counts = self.executor.counts.model_copy(update={"queued": await self.queue.backlog()})
        ready, reason = await self.readiness()
        return {
            "name": self.config.service_name,
            "description": self.config.description or self.target.description,
            "workflow": self.target.name,
            "state": "ready" if ready else reason,
            "replica_id": self.replica_id,
            "url": self.url,
            "queue": type(self.queue).__name__,
            "max_concurrent_tasks": self.config.max_concurrent_tasks,
            "max_queued_tasks": self.config.max_queued_tasks,
            "task_timeout": self.config.task_timeout,
            "step_interval": self.config.step_interval,
            "counts": counts.model_dump(),
        }

    # -- internals ------------------------------------------------------------------------------

    async def _work(self) -> None:
        while not self._draining:
            record = await self.queue.claim(self.replica_id, _CLAIM_WAIT)
            if record is None:
                continue
            if self._draining:
                await self.queue.release(record)
                return
            self._inflight[record.task_id] = record
            await self.executor.run(record, self._finish)

    async def _finish(self, record: TaskRecord) -> None:
        self._inflight.pop(record.task_id, None)
        await self.queue.finish(record)

    def _worker_done(self, worker: asyncio.Task[None]) -> None:
        if worker.cancelled() or worker.exception() is None or self.fatal is not None:
            return
        self.fatal = worker.exception()
        log.error("workflow worker failed; stopping the service", exc_info=self.fatal)
        if self.on_fatal is not None and self.fatal is not None:
            self.on_fatal(self.fatal)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            try:
                await self._heartbeat_once()
            except Exception:  # a registry hiccup must not kill the service; retry next beat
                log.exception("heartbeat of %s failed", self.replica_id)

    async def _heartbeat_once(self) -> None:
        if not await asyncio.to_thread(self.replicas.heartbeat, self.replica_id):
            ttl = self.config.effective_heartbeat_ttl
            await asyncio.to_thread(
                self.replicas.register, self.replica_id, self.config.service_name, self.url, ttl
            )
        await self._recover()

    async def _recover(self) -> None:
        live = await asyncio.to_thread(self.replicas.find, self.config.service_name, alive=True)
        started = time.monotonic()
        count = await self.queue.recover(self.replica_id, {r.replica_id for r in live})
        if count:
            log.warning(
                "requeued %d task(s) of dead replicas in %.3fs", count, time.monotonic() - started
            )
