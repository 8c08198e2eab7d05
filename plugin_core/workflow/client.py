"""``WorkflowClient`` and ``AsyncWorkflowClient``: submit, wait, stream, session state.

One core, two thin shells. :class:`_Core` holds all the logic as plain data and
functions: which request each operation sends (a :class:`_Call`), how an answer
maps to a record or an error, and when an operation asks again (a
:class:`_Retry`). The shells only send, one through ``httpx.Client``, the other
through ``httpx.AsyncClient``, and every retry waits through
:mod:`plugin_core.waiting`, so the two cannot drift apart.

Waiting long-polls the service (``?wait=``), so a result is seen as soon as it
exists rather than at the next 0.5 s poll as with llama_deploy's client. A busy
service (429/503) is asked again after its ``Retry-After`` while ``busy_timeout``
lasts (while ``timeout`` lasts when waiting for a task), then
:class:`WorkflowBusyError` is raised.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from plugin_core.errors import ConcurrentUpdateError
from plugin_core.waiting import Later, await_until, check_timeout, wait_until
from plugin_core.workflow.errors import (
    TaskNotFoundError,
    WorkflowBusyError,
    WorkflowServiceError,
    WorkflowTaskError,
)
from plugin_core.workflow.models import SessionState, TaskEvent, TaskRecord, TaskState

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")
_POLL_SLICE = 30.0


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One request and how its answer reads."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    options: dict[str, Any] = field(default_factory=dict)  # httpx's params, json, timeout


@dataclass
class _Retry(Generic[T]):
    """An operation that asks again: ``attempt()`` gives the next call, whose answer is a
    result, or a Later; ``timeout`` bounds it, then ``give_up()`` raises."""

    attempt: Callable[[], _Call[T | Later]]
    timeout: float
    give_up: Callable[[], Exception]


class _Core:
    """What both clients do, without any I/O."""

    def __init__(self, base_url: str, busy_timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.busy_timeout = check_timeout(busy_timeout, "busy_timeout")

    # -- the operations ---------------------------------------------------------------------

    def info(self) -> _Call[dict[str, Any]]:
        return _Call("GET", "/", self.json)

    def get_task(self, task_id: str) -> _Call[TaskRecord]:
        return _Call("GET", f"/tasks/{task_id}", lambda response: self.record(response, task_id))

    def get_session_state(self, session_id: str) -> _Call[SessionState]:
        return _Call("GET", f"/sessions/{session_id}/state", self.session)

    def update_session_state(
        self, session_id: str, state: dict[str, Any], expected_version: int | None, merge: bool
    ) -> _Call[SessionState]:
        body = {"state": state, "expected_version": expected_version, "merge": merge}
        return _Call("POST", f"/sessions/{session_id}/state", self.session, {"json": body})

    def post_task(self, body: dict[str, Any], wait: float) -> _Retry[TaskRecord]:
        """POST /tasks, again after each ``Retry-After`` while ``busy_timeout`` lasts."""
        last: list[WorkflowBusyError] = []
        options = {"json": body, "params": {"wait": wait}, "timeout": wait + 30}

        def read(response: httpx.Response) -> TaskRecord | Later:
            if response.status_code in (429, 503):
                last[:] = [self.busy(response)]
                return Later(last[0].retry_after)
            return self.record(response)

        return _Retry(lambda: _Call("POST", "/tasks", read, options), self.busy_timeout, last.pop)

    def wait(self, task_id: str, timeout: float) -> _Retry[TaskRecord]:
        """Long-poll the task in slices until it is final; a busy answer (the queue is briefly
        down) is asked again after its ``Retry-After``: an accepted task is not lost."""
        deadline = time.monotonic() + check_timeout(timeout)
        last: list[TaskRecord | WorkflowBusyError] = []

        def read(response: httpx.Response) -> TaskRecord | Later:
            try:
                record = self.record(response, task_id)
            except WorkflowBusyError as busy:
                last[:] = [busy]
                return Later(busy.retry_after)
            last[:] = [record]
            return record if record.is_final else Later(0.0)  # the long poll itself waited

        def attempt() -> _Call[TaskRecord | Later]:
            slice_ = min(_POLL_SLICE, max(deadline - time.monotonic(), 0.0))
            options = {"params": {"wait": slice_}, "timeout": slice_ + 10}
            return _Call("GET", f"/tasks/{task_id}", read, options)

        def give_up() -> Exception:
            (answer,) = last
            if isinstance(answer, WorkflowBusyError):
                return answer
            return TimeoutError(f"task {task_id} still {answer.state.value} after {timeout:g}s")

        return _Retry(attempt, timeout, give_up)

    def events(self, task_id: str, after: int) -> _Call[None]:
        """The event stream's request; its answer is read line by line with :meth:`event`."""

        def read(response: httpx.Response) -> None:
            if response.status_code == 404:
                raise TaskNotFoundError(task_id, self.base_url)
            self.check(response)

        return _Call("GET", f"/tasks/{task_id}/events", read, {"params": {"after": after}})

    # -- answers ----------------------------------------------------------------------------

    @staticmethod
    def submission(
        input: dict[str, Any] | None,
        session_id: str | None,
        task_id: str | None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"input": input or {}}
        if session_id is not None:
            body["session_id"] = session_id
        if task_id is not None:
            body["task_id"] = task_id
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        return body

    def json(self, response: httpx.Response) -> dict[str, Any]:
        self.check(response)
        result: dict[str, Any] = response.json()
        return result

    def record(self, response: httpx.Response, task_id: str = "") -> TaskRecord:
        if response.status_code == 404:
            raise TaskNotFoundError(task_id, self.base_url)
        self.check(response)
        return TaskRecord.model_validate_json(response.content)

    def session(self, response: httpx.Response) -> SessionState:
        if response.status_code == 409:
            raise ConcurrentUpdateError(response.json().get("detail", "session changed"))
        self.check(response)
        return SessionState.model_validate_json(response.content)

    def check(self, response: httpx.Response) -> None:
        if response.status_code in (429, 503):
            raise self.busy(response)
        if response.status_code >= 400:
            raise WorkflowServiceError(
                f"{response.request.method} {response.request.url} answered "
                f"{response.status_code}: {response.text[:500]}",
                status_code=response.status_code,
                url=self.base_url,
            )

    def busy(self, response: httpx.Response) -> WorkflowBusyError:
        try:
            retry_after = max(0.01, float(response.headers.get("Retry-After", "1")))
        except ValueError:
            retry_after = 1.0
        try:
            detail = str(response.json().get("detail", ""))
        except ValueError:
            detail = response.text[:200]
        return WorkflowBusyError(self.base_url, response.status_code, retry_after, detail)

    @staticmethod
    def result(record: TaskRecord) -> Any:
        if record.state != TaskState.SUCCEEDED:
            raise WorkflowTaskError(record)
        return record.result

    @staticmethod
    def event(line: str) -> TaskEvent | None:
        """The event on one line of the stream (None for a blank line or the final record)."""
        if not line.strip():
            return None
        data = json.loads(line)
        return None if "final" in data else TaskEvent.model_validate(data)


class WorkflowClient:
    """Blocking client for one workflow service (scripts, Airflow tasks, Prefect sync tasks)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, busy_timeout: float = 0.0) -> None:
        import httpx

        self._core = _Core(base_url, busy_timeout)
        self.base_url = self._core.base_url
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def __enter__(self) -> WorkflowClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def info(self) -> dict[str, Any]:
        """``GET /``: name, state and counts."""
        return self._send(self._core.info())

    def submit(
        self,
        input: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        task_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Queue a task and return its id.

        The same ``task_id`` or ``idempotency_key`` again returns the first task, so a
        submission retried after a network error never creates a second one.
        """
        body = self._core.submission(input, session_id, task_id, idempotency_key)
        return self._retry(self._core.post_task(body, wait=0)).task_id

    def get_task(self, task_id: str) -> TaskRecord:
        """The task's record now."""
        return self._send(self._core.get_task(task_id))

    def wait(self, task_id: str, timeout: float = 300.0) -> TaskRecord:
        """The record once final; raises ``TimeoutError`` if it is not within ``timeout``.

        A service that answers 503 meanwhile (its task queue is briefly down) is asked
        again after its ``Retry-After``: an accepted task is not lost by an outage.
        """
        return self._retry(self._core.wait(task_id, timeout))

    def run(
        self,
        input: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        timeout: float = 300.0,
        **kwargs: Any,
    ) -> Any:
        """Submit, wait and return the result; raises :class:`WorkflowTaskError` if it failed."""
        body = self._core.submission({**(input or {}), **kwargs}, session_id, None)
        record = self._retry(self._core.post_task(body, wait=min(timeout, _POLL_SLICE)))
        if not record.is_final:
            record = self.wait(record.task_id, timeout)
        return self._core.result(record)

    def stream_events(self, task_id: str, after: int = 0) -> Iterator[TaskEvent]:
        """Yield the task's events as they happen, until it ends."""
        call = self._core.events(task_id, after)
        with self._http.stream(call.method, call.path, **call.options, timeout=None) as response:
            call.read(response)
            for line in response.iter_lines():
                if (event := self._core.event(line)) is not None:
                    yield event

    def get_session_state(self, session_id: str) -> SessionState:
        """The session's JSON state and version."""
        return self._send(self._core.get_session_state(session_id))

    def update_session_state(
        self,
        session_id: str,
        state: dict[str, Any],
        *,
        expected_version: int | None = None,
        merge: bool = True,
    ) -> SessionState:
        """Merge (or replace) the state; ``expected_version`` makes it conditional (else 409)."""
        return self._send(
            self._core.update_session_state(session_id, state, expected_version, merge)
        )

    def _send(self, call: _Call[T]) -> T:
        return call.read(self._http.request(call.method, call.path, **call.options))

    def _retry(self, retry: _Retry[T]) -> T:
        result = wait_until(lambda: self._send(retry.attempt()), timeout=retry.timeout)
        if result is None:
            raise retry.give_up()
        return result


class AsyncWorkflowClient:
    """The asyncio shell of the same core (Prefect async tasks, Airflow triggers).

    Each method does what :class:`WorkflowClient`'s method of that name does.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        busy_timeout: float = 0.0,
        max_connections: int = 100,
    ) -> None:
        import httpx

        self._core = _Core(base_url, busy_timeout)
        self.base_url = self._core.base_url
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, limits=limits)

    async def __aenter__(self) -> AsyncWorkflowClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def info(self) -> dict[str, Any]:
        return await self._send(self._core.info())

    async def submit(
        self,
        input: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        task_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        body = self._core.submission(input, session_id, task_id, idempotency_key)
        return (await self._retry(self._core.post_task(body, wait=0))).task_id

    async def get_task(self, task_id: str) -> TaskRecord:
        return await self._send(self._core.get_task(task_id))

    async def wait(self, task_id: str, timeout: float = 300.0) -> TaskRecord:
        return await self._retry(self._core.wait(task_id, timeout))

    async def run(
        self,
        input: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        timeout: float = 300.0,
        **kwargs: Any,
    ) -> Any:
        body = self._core.submission({**(input or {}), **kwargs}, session_id, None)
        record = await self._retry(self._core.post_task(body, wait=min(timeout, _POLL_SLICE)))
        if not record.is_final:
            record = await self.wait(record.task_id, timeout)
        return self._core.result(record)

    async def stream_events(self, task_id: str, after: int = 0) -> AsyncIterator[TaskEvent]:
        call = self._core.events(task_id, after)
        async with self._http.stream(
            call.method, call.path, **call.options, timeout=None
        ) as response:
            call.read(response)
            async for line in response.aiter_lines():
                if (event := self._core.event(line)) is not None:
                    yield event

    async def get_session_state(self, session_id: str) -> SessionState:
        return await self._send(self._core.get_session_state(session_id))

    async def update_session_state(
        self,
        session_id: str,
        state: dict[str, Any],
        *,
        expected_version: int | None = None,
        merge: bool = True,
    ) -> SessionState:
        return await self._send(
            self._core.update_session_state(session_id, state, expected_version, merge)
        )

    async def _send(self, call: _Call[T]) -> T:
        return call.read(await self._http.request(call.method, call.path, **call.options))

    async def _retry(self, retry: _Retry[T]) -> T:
        async def attempt() -> T | Later:
            return await self._send(retry.attempt())

        result = await await_until(attempt, timeout=retry.timeout)
        if result is None:
            raise retry.give_up()
        return result
