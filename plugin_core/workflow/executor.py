"""Run one task: timeout, cancellation, error capture, progress events.

The executor does not queue anything. The runtime starts exactly
``max_concurrent_tasks`` workers and each calls :meth:`TaskExecutor.run` for
one claimed task at a time, so the bound holds by construction. A sync callable
that overruns its timeout is reported TIMED_OUT at once, but its worker keeps
its slot until the thread returns, because a thread cannot be interrupted and
letting it run unaccounted would break the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from plugin_core.workflow.models import ServiceCounts, SessionState, TaskRecord, TaskState
from plugin_core.workflow.target import WorkflowTarget

if TYPE_CHECKING:
    from plugin_core.workflow.llama import WorkflowContexts
    from plugin_core.workflow.session import SessionChange, SessionStore

log = logging.getLogger(__name__)

EventSink = Callable[[str, Any], Awaitable[int]]
Finish = Callable[[TaskRecord], Awaitable[None]]

_CURRENT: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar(
    "outlive_workflow_task", default=None
)
_END = object()
_CANCEL_GRACE = 1.0


def current_task() -> TaskContext:
    """The task being run, from inside a workflow callable (sync or async)."""
    ctx = _CURRENT.get()
    if ctx is None:
        raise RuntimeError("current_task() is only available inside a running workflow task")
    return ctx


def jsonable(value: Any) -> Any:
    """A JSON-able copy of ``value``: pydantic models and dataclasses as dicts, else ``repr``."""
    return to_jsonable_python(value, fallback=repr)


class TaskContext:
    """What a running task can reach: its ids, an event channel and its session's state."""

    def __init__(self, record: TaskRecord, sink: EventSink, sessions: SessionStore | None) -> None:
        self.task_id = record.task_id
        self.session_id = record.session_id
        self.attempt = record.attempts
        self._sink = sink
        self._sessions = sessions
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._buffer: asyncio.Queue[Any] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._side: set[asyncio.Task[None]] = set()
        self.handler: Any = None  # a llama-index WorkflowHandler, for events sent in

    def emit(self, data: Any) -> None:
        """Publish a progress event; safe from the loop and from worker threads, never blocks."""
        item = jsonable(data)
        if threading.get_ident() == self._loop_thread:
            self._enqueue(item)
        else:
            self._loop.call_soon_threadsafe(self._enqueue, item)

    def get_session_state(self) -> SessionState:
        """The task's session state (sync; call ``aget_session_state`` from async code)."""
        store, session_id = self._session()
        return store.get(session_id)

    def update_session_state(self, change: SessionChange) -> SessionState:
        """Merge a dict into, or apply a function to, the session state without losing races."""
        store, session_id = self._session()
        return store.modify(session_id, change)

    async def aget_session_state(self) -> SessionState:
        """Async :meth:`get_session_state`, off the event loop."""
        return await asyncio.to_thread(self.get_session_state)

    async def aupdate_session_state(self, change: SessionChange) -> SessionState:
        """Async :meth:`update_session_state`, off the event loop."""
        return await asyncio.to_thread(self.update_session_state, change)

    def track(self, task: asyncio.Task[None]) -> None:
        """Keep a helper task (an event relay) that :meth:`flush` waits for."""
        self._side.add(task)

    async def flush(self) -> None:
        """Wait until every emitted event is stored, so events precede the final record."""
        if self._side:
            await asyncio.wait(self._side, timeout=_CANCEL_GRACE)
        if self._pump is not None:
            self._buffer.put_nowait(_END)
            await self._pump

    def _session(self) -> tuple[SessionStore, str]:
        if self._sessions is None or not self.session_id:
            raise RuntimeError(f"task {self.task_id} has no session: submit it with a session_id")
        return self._sessions, self.session_id

    def _enqueue(self, item: Any) -> None:
        if self._pump is None:
            self._pump = asyncio.create_task(self._drain())
        self._buffer.put_nowait(item)

    async def _drain(self) -> None:
        from plugin_core.workflow.errors import QueueUnavailableError

        lost = 0
        while (item := await self._buffer.get()) is not _END:
            try:
                await self._sink(self.task_id, item)
            except QueueUnavailableError:  # progress events are best effort in an outage
                lost += 1
            except Exception:  # an event store hiccup must not fail the task
                log.exception("could not store an event of task %s", self.task_id)
        if lost:
            log.warning("%d event(s) of task %s lost: the task queue was down", lost, self.task_id)


class TaskExecutor:
    """Runs claimed tasks with a timeout and turns every outcome into a final record."""

    def __init__(
        self,
        target: WorkflowTarget,
        *,
        max_concurrent_tasks: int,
        task_timeout: float | None,
        raise_exceptions: bool,
        sink: EventSink,
        sessions: SessionStore | None = None,
        contexts: WorkflowContexts | None = None,
    ) -> None:
        self.target = target
        self.task_timeout = task_timeout
        self.raise_exceptions = raise_exceptions
        self.counts = ServiceCounts()
        self.active: dict[str, TaskContext] = {}
        self._sink = sink
        self._sessions = sessions
        self._contexts = contexts
        self._pool = ThreadPoolExecutor(max_concurrent_tasks, thread_name_prefix="workflow-task")
        self._durations: list[float] = []

    def use_sessions(self, sessions: SessionStore, contexts: WorkflowContexts | None) -> None:
        """Switch the session store (a new control plane) for tasks started from now on."""
        self._sessions = sessions
        self._contexts = contexts

    def mean_duration(self) -> float:
        """Mean run time of recent tasks, for ``Retry-After`` estimates."""
        return sum(self._durations) / len(self._durations) if self._durations else 0.0

    def shutdown(self) -> None:
        """Release the thread pool without waiting for stuck threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, record: TaskRecord, finish: Finish) -> None:
        """Run ``record`` (already RUNNING), call ``finish`` once with the final record.

        Returns when the slot is free again. Re-raises the task's exception after
        ``finish`` when ``raise_exceptions`` is set, so the service stops loudly.
        """
        ctx = TaskContext(record, self._sink, self._sessions)
        self.counts.running += 1
        self.active[record.task_id] = ctx
        started = time.monotonic()
        try:
            fut, thread = self._begin(record, ctx, await self._saved_context(record))
            final, error = await self._outcome(record, fut, ctx.handler)
            await self._save_context(record, ctx.handler)
            await ctx.flush()
            await finish(final)
            self._count(final, time.monotonic() - started)
            if thread is not None and not thread.done():
                # Keep the slot until the overrunning thread returns; its outcome is moot.
                await asyncio.wait({asyncio.wrap_future(thread)})
        finally:
            self.counts.running -= 1
            self.active.pop(record.task_id, None)
        if error is not None and self.raise_exceptions:
            raise error

    async def _saved_context(self, record: TaskRecord) -> Any:
        """The session's saved llama-index context (llama_deploy's per-session memory)."""
        if self._contexts is None or not record.session_id:
            return None
        try:
            return await asyncio.to_thread(self._contexts.load, record.session_id)
        except Exception as exc:  # reported as the task's failure by _begin
            return _ContextLoadFailed(exc)

    async def _save_context(self, record: TaskRecord, handler: Any) -> None:
        if self._contexts is None or not record.session_id or handler is None:
            return
        from plugin_core.workflow.llama import WorkflowState

        current = WorkflowState(
            task_id=record.task_id, session_id=record.session_id, run_kwargs=record.input
        )
        try:
            await asyncio.to_thread(self._contexts.save, handler.ctx, current)
        except Exception:  # the task's own outcome stands; the next run starts fresh
            log.exception("could not save the workflow context of task %s", record.task_id)

    def _begin(
        self, record: TaskRecord, ctx: TaskContext, saved: Any = None
    ) -> tuple[asyncio.Future[Any], Future[Any] | None]:
        token = _CURRENT.set(ctx)
        try:
            if isinstance(saved, _ContextLoadFailed):
                raise saved.error
            if self.target.in_thread:
                call = functools.partial(self.target.call, **record.input)
                thread = self._pool.submit(contextvars.copy_context().run, call)
                return asyncio.wrap_future(thread), thread
            kwargs = record.input if saved is None else {**record.input, "ctx": saved}
            running = self.target.call(**kwargs)
            if hasattr(running, "stream_events"):  # a llama-index WorkflowHandler
                ctx.handler = running
                ctx.track(asyncio.create_task(_forward_events(running, ctx)))
            return asyncio.ensure_future(running), None
        except BaseException as exc:
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed, None
        finally:
            _CURRENT.reset(token)

    async def _outcome(
        self, record: TaskRecord, fut: asyncio.Future[Any], handler: Any = None
    ) -> tuple[TaskRecord, BaseException | None]:
        try:
            done, _ = await asyncio.wait({fut}, timeout=self.task_timeout)
        except asyncio.CancelledError:  # the worker is being stopped: stop the task with it
            fut.cancel()
            raise
        now = time.time()
        if not done:
            if hasattr(handler, "cancel_run"):  # stop the workflow run, not only our wait on it
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(handler.cancel_run(), _CANCEL_GRACE)
            fut.cancel()
            await asyncio.wait({fut}, timeout=_CANCEL_GRACE)
            error = f"cancelled after exceeding task_timeout of {self.task_timeout:g}s"
            return _final(record, TaskState.TIMED_OUT, now, error=error), None
        if fut.cancelled():
            return _final(record, TaskState.CANCELLED, now, error="cancelled by the workflow"), None
        exc = fut.exception()
        if exc is not None:
            log.error("task %s failed", record.task_id, exc_info=exc)
            return _final(record, TaskState.FAILED, now, error=f"{type(exc).__name__}: {exc}"), exc
        return _final(record, TaskState.SUCCEEDED, now, result=jsonable(fut.result())), None

    def _count(self, final: TaskRecord, seconds: float) -> None:
        field = {TaskState.SUCCEEDED: "succeeded", TaskState.TIMED_OUT: "timed_out"}
        name = field.get(final.state, "failed")
        setattr(self.counts, name, getattr(self.counts, name) + 1)
        self._durations.append(seconds)
        del self._durations[:-64]


class _ContextLoadFailed:
    """A saved context that could not be loaded: the task fails with this error."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _final(
    record: TaskRecord,
    state: TaskState,
    now: float,
    *,
    result: Any = None,
    error: str | None = None,
) -> TaskRecord:
    return record.model_copy(
        update={"state": state, "result": result, "error": error, "finished_at": now}
    )


async def _forward_events(handler: Any, ctx: TaskContext) -> None:
    """Relay a llama-index handler's ``stream_events()`` as task events.

    The closing ``StopEvent`` is left out: its result is the task's final record, and
    storing it twice would cost every task one more queue write.
    """
    try:
        async for event in handler.stream_events():
            if any(cls.__name__ == "StopEvent" for cls in type(event).__mro__):
                continue
            ctx.emit({"event": type(event).__name__, "data": jsonable(event)})
    except Exception:  # the workflow's own outcome is reported by the main future
        log.debug("event stream of task %s ended early", ctx.task_id, exc_info=True)
