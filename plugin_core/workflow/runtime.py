"""The running workflow service, without HTTP: intake, workers, control plane, draining.

``WorkflowRuntime`` is what the FastAPI app serves and what ``launch_local``
embeds. Start-up is ordered by facts, not sleeps: the queue is open and
orphaned tasks are requeued before the workers start, and the replica is
registered before ``/readyz`` says yes. Shutdown drains: no new tasks, running
ones get ``drain_timeout`` seconds, the rest go back to the queue (a durable
queue runs them again after a restart), then the replica deregisters.

A queue outage is ridden out (:mod:`plugin_core.workflow.outage`): intake pauses
with 503, workers wait, finished results wait in memory until they are stored,
and everything resumes by itself; only an outage past ``queue_outage_limit``
stops the replica. Delivery is at-least-once (see :mod:`plugin_core.workflow.queue`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from plugin_core.workflow.config import WorkflowServiceConfig
from plugin_core.workflow.control import ReplicaDirectory, new_replica_id
from plugin_core.workflow.errors import QueueUnavailableError, WorkflowBusyError
from plugin_core.workflow.executor import TaskExecutor
from plugin_core.workflow.models import TaskRecord, TaskSubmission, new_task_id
from plugin_core.workflow.outage import QueueOutage
from plugin_core.workflow.queue import TaskQueue, open_queue, start_record
from plugin_core.workflow.session import SessionStore
from plugin_core.workflow.target import WorkflowTarget, load_target

if TYPE_CHECKING:
    from plugin_core.workflow.llama import WorkflowContexts

log = logging.getLogger(__name__)

_CLAIM_WAIT = 1.0
_MAX_RETRY_AFTER = 60
_OUTAGE_RETRY_AFTER = 2


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
            contexts=_contexts_for(self.target, self.sessions),
        )
        self.outage = QueueOutage(
            self.queue.ping,
            name=config.queue_url,
            limit=config.queue_outage_limit,
            give_up=self._give_up,
        )
        self.running = config.running
        self.fatal: BaseException | None = None
        self.on_fatal = on_fatal
        self._workers: list[asyncio.Task[None]] = []
        self._heartbeat: asyncio.Task[None] | None = None
        self._inflight: dict[str, TaskRecord] = {}
        self._started = False
        self._draining = False
        self._queue_open = False
        self._registered = True
        self.ended = asyncio.Event()  # set when the replica stops or gives up

    # -- lifecycle ------------------------------------------------------------------------------

    async def open_queue(self) -> None:
        """Open the queue once (tasks can be accepted before the workers start)."""
        if not self._queue_open:
            await self.queue.open()
            self._queue_open = True

    async def start(self) -> None:
        """Open the queue, requeue orphans, register, then start the workers and heartbeat."""
        self.ended.clear()
        self._draining = False
        await self.open_queue()
        await self.register()
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
        await self._release_unfinished()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        await self.outage.close()
        await asyncio.to_thread(self.replicas.deregister, self.replica_id)
        await self.queue.close()
        self._queue_open = False
        self.executor.shutdown()
        self._started = False
        self.ended.set()
        log.info("workflow service %s stopped and deregistered", self.config.service_name)

    # -- control plane --------------------------------------------------------------------------

    async def register(self, replicas: ReplicaDirectory | None = None) -> None:
        """(Re-)register this replica, in ``replicas`` if given (a new control plane)."""
        self.replicas = replicas or self.replicas
        self._registered = True
        ttl = self.config.effective_heartbeat_ttl
        await asyncio.to_thread(
            self.replicas.register, self.replica_id, self.config.service_name, self.url, ttl
        )

    def use_control_plane(self, registry_url: str) -> None:
        """Use the registry at ``registry_url`` from now on: replica rows, sessions, contexts.
        A replica already registered elsewhere stays there until it deregisters."""
        self.replicas = ReplicaDirectory(registry_url)
        self.sessions = SessionStore(registry_url)
        self.executor.use_sessions(self.sessions, _contexts_for(self.target, self.sessions))

    async def deregister(self) -> None:
        """Remove this replica from the control plane and stop re-registering it."""
        self._registered = False
        await asyncio.to_thread(self.replicas.deregister, self.replica_id)

    # -- intake ---------------------------------------------------------------------------------

    async def adopt(self, record: TaskRecord) -> TaskRecord:
        """Store a task this replica runs directly (llama_deploy's ``process_call``)."""
        await self.open_queue()
        return await self.queue.adopt(start_record(record, self.replica_id))

    async def send_event(self, task_id: str, event: Any) -> None:
        """Pass a llama-index event to a task running here (human in the loop)."""
        running = self.executor.active.get(task_id)
        if running is None or running.handler is None or running.handler.ctx is None:
            raise ValueError(f"task {task_id!r} is not a workflow running on {self.url}")
        running.handler.ctx.send_event(event)

    async def submit(self, submission: TaskSubmission, *, early: bool = False) -> TaskRecord:
        """Queue a task; raises :class:`WorkflowBusyError` (429 full; 503 draining or the
        queue unavailable). The same ``task_id`` or ``idempotency_key`` returns the first task.

        At most ``max_queued_tasks`` tasks wait; a task handed straight to an idle worker
        of this replica never waits, so with idle workers a task is accepted even at 0.
        """
        if early and not self._started:
            await self.open_queue()  # llama_deploy accepts messages before its loop runs
        elif not self._started or self._draining:
            raise WorkflowBusyError(self.url, 503, 5, "the service is starting or draining")
        if self.outage.is_down:
            raise self._unavailable()
        record = TaskRecord(
            task_id=submission.effective_task_id() or new_task_id(),
            session_id=submission.session_id,
            input=submission.input,
        )
        handoff = self.replica_id if self.running and self._started else None
        try:
            stored = await self.queue.put(record, self.config.max_queued_tasks, handoff)
        except QueueUnavailableError as exc:
            self.outage.mark_down(exc)
            raise self._unavailable() from None
        if stored is None:
            self.executor.counts.rejected += 1
            backlog = await self.queue.backlog()
            raise WorkflowBusyError(self.url, 429, self.retry_after(backlog), "task intake is full")
        return stored

    def _unavailable(self) -> WorkflowBusyError:
        detail = (
            f"the task queue is unavailable ({self.outage.reason}); intake is paused "
            "and resumes by itself"
        )
        return WorkflowBusyError(self.url, 503, _OUTAGE_RETRY_AFTER, detail)

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
        if self.outage.is_down:
            seconds = self.outage.seconds_down()
            return False, f"task queue unavailable for {seconds:.1f}s: {self.outage.reason}"
        try:
            backlog = await self.queue.backlog()
        except QueueUnavailableError as exc:
            self.outage.mark_down(exc)
            return False, f"task queue unavailable: {exc.reason}"
        if backlog >= self.config.max_queued_tasks and self.config.max_queued_tasks > 0:
            return False, f"task intake is full ({backlog} queued)"
        return True, "ready"

    async def info(self) -> dict[str, Any]:
        """What ``GET /`` shows: identity, state and counts."""
        ready, reason = await self.readiness()
        try:
            queued = await self.queue.backlog() if not self.outage.is_down else None
        except QueueUnavailableError:
            queued = None
        counts = self.executor.counts.model_copy(update={"queued": queued})
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
            # llama_deploy's home() keys, for clients written against it
            "service_name": self.config.service_name,
            "running": str(self.running),
            "num_outstanding_calls": str(counts.running + (queued or 0)),
            "type": "workflow_service",
        }

    # -- internals ------------------------------------------------------------------------------

    async def _work(self) -> None:
        """A worker's main loop: claim a task, run it, until the service drains.

        Its sleeps are not waits for anything to end: a paused service (llama_deploy's
        ``running=False``) checks again every ``step_interval``, and claiming blocks in
        the queue itself.
        """
        while not self._draining:
            if not self.running:  # llama_deploy's `running=False`: accept, but do not run
                await asyncio.sleep(self.config.step_interval)
                continue
            record = await self.outage.call(lambda: self.queue.claim(self.replica_id, _CLAIM_WAIT))
            if record is None:
                continue
            self._inflight[record.task_id] = record
            if self._draining:
                return
            await self.executor.run(record, self._finish)

    async def _finish(self, record: TaskRecord) -> None:
        """Store the final record, holding it in memory through a queue outage."""
        await self.outage.call(lambda: self.queue.finish(record))
        self._inflight.pop(record.task_id, None)

    async def _release_unfinished(self) -> None:
        """Give back what this replica holds but will not finish; in an outage they stay
        RUNNING on this replica and are requeued once it is seen dead."""
        for record in [*self._inflight.values(), *self.queue.unclaimed()]:
            try:
                await self.queue.release(record)
            except QueueUnavailableError as exc:
                log.warning("could not give task %s back (%s)", record.task_id, exc.reason)
        self._inflight.clear()

    def _give_up(self, error: QueueUnavailableError) -> None:
        if self.fatal is None:
            self.fatal = error
            self.ended.set()
            if self.on_fatal is not None:
                self.on_fatal(error)

    def _worker_done(self, worker: asyncio.Task[None]) -> None:
        if worker.cancelled() or worker.exception() is None or self.fatal is not None:
            return
        self.fatal = worker.exception()
        self.ended.set()
        log.error("workflow worker failed; stopping the service", exc_info=self.fatal)
        if self.on_fatal is not None and self.fatal is not None:
            self.on_fatal(self.fatal)

    async def _beat(self) -> None:
        """A timer: one heartbeat every ``heartbeat_interval`` for the life of the service."""
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            try:
                await self._heartbeat_once()
            except QueueUnavailableError as exc:  # the outage watcher handles it
                self.outage.mark_down(exc)
            except Exception:  # a registry hiccup must not kill the service; retry next beat
                log.exception("heartbeat of %s failed", self.replica_id)

    async def _heartbeat_once(self) -> None:
        if not self._registered:
            pass
        elif not await asyncio.to_thread(self.replicas.heartbeat, self.replica_id):
            await self.register()
        if not self.outage.is_down:
            await self._recover()

    async def _recover(self) -> None:
        live = await asyncio.to_thread(self.replicas.find, self.config.service_name, alive=True)
        started = time.monotonic()
        count = await self.queue.recover(self.replica_id, {r.replica_id for r in live})
        if count:
            log.warning(
                "requeued %d task(s) of dead replicas in %.3fs", count, time.monotonic() - started
            )


def _contexts_for(target: WorkflowTarget, sessions: SessionStore) -> WorkflowContexts | None:
    """Per-session context memory for a llama-index Workflow; None for anything else."""
    from plugin_core.workflow.llama import WorkflowContexts, is_llama_workflow

    return WorkflowContexts(sessions, target.obj) if is_llama_workflow(target.obj) else None
