"""``WorkflowClient`` and ``AsyncWorkflowClient``: submit, wait, stream, session state.

Both share the request building and answer parsing in :class:`_Protocol`; only
the I/O differs, so they cannot drift apart. Waiting long-polls the service
(``?wait=``), so a result is seen as soon as it exists rather than at the next
0.5 s poll as with llama_deploy's client. A busy service (429/503) is retried
after its ``Retry-After`` while ``busy_timeout`` lasts, then
:class:`WorkflowBusyError` is raised.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from plugin_core.errors import ConcurrentUpdateError
from plugin_core.workflow.errors import (
    TaskNotFoundError,
    WorkflowBusyError,
    WorkflowServiceError,
    WorkflowTaskError,
)
from plugin_core.workflow.models import SessionState, TaskEvent, TaskRecord, TaskState

if TYPE_CHECKING:
    import httpx

_POLL_SLICE = 30.0


class _Protocol:
    """How the service's answers map to records and errors; shared by both clients."""

    def __init__(self, base_url: str, busy_timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.busy_timeout = busy_timeout

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
            retry_after = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            retry_after = 1.0
        try:
            detail = str(response.json().get("detail", ""))
        except ValueError:
            detail = response.text[:200]
        return WorkflowBusyError(self.base_url, response.status_code, retry_after, detail)

    @staticmethod
    def pause(busy: WorkflowBusyError, deadline: float) -> float:
        """How long to wait before asking a busy service again, within ``deadline``."""
        return max(0.01, min(busy.retry_after, deadline - time.monotonic()))

    @staticmethod
    def result(record: TaskRecord) -> Any:
        if record.state != TaskState.SUCCEEDED:
            raise WorkflowTaskError(record)
        return record.result

    @staticmethod
    def event_line(line: str) -> TaskEvent | TaskRecord | None:
        if not line.strip():
            return None
        data = json.loads(line)
        if "final" in data:
            return TaskRecord.model_validate(data["final"]) if data["final"] else None
        return TaskEvent.model_validate(data)


class WorkflowClient(_Protocol):
    """Blocking client for one workflow service (scripts, Airflow tasks, Prefect sync tasks)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, busy_timeout: float = 0.0) -> None:
        import httpx

        super().__init__(base_url, busy_timeout)
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
        response = self._http.get("/")
        self.check(response)
        result: dict[str, Any] = response.json()
        return result

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
        return self._post_task(
            self.submission(input, session_id, task_id, idempotency_key), wait=0
        ).task_id

    def get_task(self, task_id: str) -> TaskRecord:
        """The task's record now."""
        return self.record(self._http.get(f"/tasks/{task_id}"), task_id)

    def wait(self, task_id: str, timeout: float = 300.0) -> TaskRecord:
        """The record once final; raises ``TimeoutError`` if it is not within ``timeout``.

        A service that answers 503 meanwhile (its task queue is briefly down) is asked
        again after its ``Retry-After``: an accepted task is not lost by an outage.
        """
        deadline = time.monotonic() + timeout
        while True:
            slice_ = min(_POLL_SLICE, max(deadline - time.monotonic(), 0.0))
            try:
                record = self.record(
                    self._http.get(
                        f"/tasks/{task_id}", params={"wait": slice_}, timeout=slice_ + 10
                    ),
                    task_id,
                )
            except WorkflowBusyError as busy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(self.pause(busy, deadline))
                continue
            if record.is_final:
                return record
            if time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} still {record.state.value} after {timeout:g}s")

    def run(
        self,
        input: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        timeout: float = 300.0,
        **kwargs: Any,
    ) -> Any:
        """Submit, wait and return the result; raises :class:`WorkflowTaskError` if it failed."""
        body = self.submission({**(input or {}), **kwargs}, session_id, None)
        record = self._post_task(body, wait=min(timeout, _POLL_SLICE))
        if not record.is_final:
            record = self.wait(record.task_id, timeout)
        return self.result(record)

    def stream_events(self, task_id: str, after: int = 0) -> Iterator[TaskEvent]:
        """Yield the task's events as they happen, until it ends."""
        with self._http.stream(
            "GET", f"/tasks/{task_id}/events", params={"after": after}, timeout=None
        ) as response:
            if response.status_code == 404:
                raise TaskNotFoundError(task_id, self.base_url)
            self.check(response)
            for line in response.iter_lines():
                item = self.event_line(line)
                if isinstance(item, TaskEvent):
                    yield item

    def get_session_state(self, session_id: str) -> SessionState:
        """The session's JSON state and version."""
        return self.session(self._http.get(f"/sessions/{session_id}/state"))

    def update_session_state(
        self,
        session_id: str,
        state: dict[str, Any],
        *,
        expected_version: int | None = None,
        merge: bool = True,
    ) -> SessionState:
        """Merge (or replace) the state; ``expected_version`` makes it conditional (else 409)."""
        body = {"state": state, "expected_version": expected_version, "merge": merge}
        return self.session(self._http.post(f"/sessions/{session_id}/state", json=body))

    def _post_task(self, body: dict[str, Any], wait: float) -> TaskRecord:
        deadline = time.monotonic() + self.busy_timeout
        while True:
            response = self._http.post(
                "/tasks", json=body, params={"wait": wait}, timeout=wait + 30
            )
            if response.status_code not in (429, 503) or time.monotonic() >= deadline:
                return self.record(response)
            time.sleep(min(self.busy(response).retry_after, max(deadline - time.monotonic(), 0.01)))


class AsyncWorkflowClient(_Protocol):
    """The asyncio twin of :class:`WorkflowClient` (Prefect async tasks, Airflow triggers)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        busy_timeout: float = 0.0,
        max_connections: int = 100,
    ) -> None:
        import httpx

        super().__init__(base_url, busy_timeout)
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
        """``GET /``: name, state and counts."""
        response = await self._http.get("/")
        self.check(response)
        result: dict[str, Any] = response.json()
        return result

    async def submit(
        self,
        input: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        task_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Queue a task and return its id (see :meth:`WorkflowClient.submit`)."""
        return (
            await self._post_task(
                self.submission(input, session_id, task_id, idempotency_key), wait=0
            )
        ).task_id

    async def get_task(self, task_id: str) -> TaskRecord:
        """The task's record now."""
        return self.record(await self._http.get(f"/tasks/{task_id}"), task_id)

    async def wait(self, task_id: str, timeout: float = 300.0) -> TaskRecord:
        """The record once final; raises ``TimeoutError`` if it is not within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            slice_ = min(_POLL_SLICE, max(deadline - time.monotonic(), 0.0))
            response = await self._http.get(
                f"/tasks/{task_id}", params={"wait": slice_}, timeout=slice_ + 10
            )
            try:
                record = self.record(response, task_id)
            except WorkflowBusyError as busy:  # the queue is briefly down: ask again
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(self.pause(busy, deadline))
                continue
            if record.is_final:
                return record
            if time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} still {record.state.value} after {timeout:g}s")

    async def run(
        self,
        input: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        timeout: float = 300.0,
        **kwargs: Any,
    ) -> Any:
        """Submit, wait and return the result; raises :class:`WorkflowTaskError` if it failed."""
        body = self.submission({**(input or {}), **kwargs}, session_id, None)
        record = await self._post_task(body, wait=min(timeout, _POLL_SLICE))
        if not record.is_final:
            record = await self.wait(record.task_id, timeout)
        return self.result(record)

    async def stream_events(self, task_id: str, after: int = 0) -> AsyncIterator[TaskEvent]:
        """Yield the task's events as they happen, until it ends."""
        async with self._http.stream(
            "GET", f"/tasks/{task_id}/events", params={"after": after}, timeout=None
        ) as response:
            if response.status_code == 404:
                raise TaskNotFoundError(task_id, self.base_url)
            self.check(response)
            async for line in response.aiter_lines():
                item = self.event_line(line)
                if isinstance(item, TaskEvent):
                    yield item

    async def get_session_state(self, session_id: str) -> SessionState:
        """The session's JSON state and version."""
        return self.session(await self._http.get(f"/sessions/{session_id}/state"))

    async def update_session_state(
        self,
        session_id: str,
        state: dict[str, Any],
        *,
        expected_version: int | None = None,
        merge: bool = True,
    ) -> SessionState:
        """Merge (or replace) the state; ``expected_version`` makes it conditional (else 409)."""
        body = {"state": state, "expected_version": expected_version, "merge": merge}
        return self.session(await self._http.post(f"/sessions/{session_id}/state", json=body))

    async def _post_task(self, body: dict[str, Any], wait: float) -> TaskRecord:
        deadline = time.monotonic() + self.busy_timeout
        while True:
            response = await self._http.post(
                "/tasks", json=body, params={"wait": wait}, timeout=wait + 30
            )
            if response.status_code not in (429, 503) or time.monotonic() >= deadline:
                return self.record(response)
            await asyncio.sleep(
                min(self.busy(response).retry_after, max(deadline - time.monotonic(), 0.01))
            )
