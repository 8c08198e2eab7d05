"""The HTTP face of a workflow service (FastAPI; imported only when serving).

Routes: ``GET /`` (identity and counts), ``GET /healthz`` (the process answers),
``GET /readyz`` (workers up, not draining, intake not full: the health check
the lifecycle waits on), ``POST /tasks`` (alias ``/process_message``; 202 and a
task id, or the result at once with ``?wait=SECONDS``), ``GET /tasks/{id}``
(``?wait=`` long-polls), ``GET /tasks/{id}/events`` (NDJSON until the task
ends), ``GET|POST /sessions/{id}/state`` (JSON state, 409 on a lost race).
Busy answers are 429 (intake full) or 503 (draining, or the task queue
unavailable), both with ``Retry-After``. A submission with an ``Idempotency-Key``
header (or ``idempotency_key`` field) returns the same task however often it is sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from plugin_core.errors import ConcurrentUpdateError, ConfigError
from plugin_core.workflow.errors import QueueUnavailableError, WorkflowBusyError
from plugin_core.workflow.models import SessionUpdate, TaskRecord, TaskSubmission
from plugin_core.workflow.runtime import WorkflowRuntime

_MAX_WAIT = 300.0
_JSON = "application/json"


def create_app(runtime: WorkflowRuntime) -> FastAPI:
    """A FastAPI app whose lifespan starts and drains ``runtime``."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=f"outlive workflow: {runtime.config.service_name}", lifespan=lifespan)
    app.state.runtime = runtime
    _add_status_routes(app, runtime)
    _add_task_routes(app, runtime)
    _add_session_routes(app, runtime)

    @app.exception_handler(WorkflowBusyError)
    async def _busy(_request: Request, exc: WorkflowBusyError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail, "retry_after": exc.retry_after},
            status_code=exc.status_code,
            headers={"Retry-After": str(int(exc.retry_after))},
        )

    @app.exception_handler(QueueUnavailableError)
    async def _queue_down(_request: Request, exc: QueueUnavailableError) -> JSONResponse:
        runtime.outage.mark_down(exc)
        return JSONResponse(
            {"detail": str(exc), "retry_after": 2}, status_code=503, headers={"Retry-After": "2"}
        )

    return app


def _record_response(record: TaskRecord, status_code: int = 200) -> Response:
    return Response(
        record.model_dump_json(),
        status_code=status_code,
        media_type=_JSON,
        headers={"Location": f"/tasks/{record.task_id}"},
    )


def _not_found(task_id: str) -> JSONResponse:
    return JSONResponse({"detail": f"no task {task_id!r}"}, status_code=404)


def _add_status_routes(app: FastAPI, runtime: WorkflowRuntime) -> None:
    @app.get("/")
    async def home() -> dict[str, Any]:
        return await runtime.info()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ready, reason = await runtime.readiness()
        return JSONResponse({"ready": ready, "reason": reason}, status_code=200 if ready else 503)


def _add_task_routes(app: FastAPI, runtime: WorkflowRuntime) -> None:
    async def accept(submission: TaskSubmission, wait: float, key: str | None) -> Response:
        if key and submission.idempotency_key is None and not submission.task_id:
            submission = submission.model_copy(update={"idempotency_key": key})
        record = await runtime.submit(submission)
        if wait > 0 and not record.is_final:
            record = await runtime.queue.wait_final(record.task_id, wait) or record
        return _record_response(record, 200 if record.is_final else 202)

    async def submit(
        submission: TaskSubmission,
        wait: float = Query(0.0, ge=0, le=_MAX_WAIT),
        idempotency_key: str | None = Header(None, max_length=256),
    ) -> Response:
        return await accept(submission, wait, idempotency_key)

    async def process_message(
        request: Request,
        wait: float = Query(0.0, ge=0, le=_MAX_WAIT),
        idempotency_key: str | None = Header(None, max_length=256),
    ) -> Response:
        """Our task submission, or a llama_deploy ``QueueMessage`` (NEW_TASK, SEND_EVENT)."""
        from pydantic import ValidationError

        from plugin_core.workflow.llama import (
            ActionTypes,
            QueueMessage,
            event_of,
            is_queue_message,
            submission_of,
        )

        try:
            body = await request.json()
            if not (isinstance(body, dict) and is_queue_message(body)):
                return await accept(TaskSubmission.model_validate(body), wait, idempotency_key)
            message = QueueMessage.model_validate(body)
            if message.action == ActionTypes.SEND_EVENT:
                task_id, event = event_of(message)
                await runtime.send_event(task_id, event)
                return JSONResponse({"task_id": task_id, "sent": True}, status_code=202)
            return await accept(submission_of(message), wait, idempotency_key)
        except ValidationError as exc:
            return JSONResponse({"detail": json.loads(exc.json(include_url=False))}, 422)
        except (ValueError, ConfigError) as exc:  # bad JSON, an action we do not handle
            return JSONResponse({"detail": str(exc)}, status_code=422)

    app.add_api_route("/tasks", submit, methods=["POST"], status_code=202)
    app.add_api_route("/process_message", process_message, methods=["POST"], status_code=202)

    @app.get("/tasks/{task_id}")
    async def get_task(task_id: str, wait: float = Query(0.0, ge=0, le=_MAX_WAIT)) -> Response:
        if wait > 0:
            record = await runtime.queue.wait_final(task_id, wait)
        else:
            record = await runtime.queue.get(task_id)
        return _not_found(task_id) if record is None else _record_response(record)

    @app.get("/tasks/{task_id}/events")
    async def task_events(task_id: str, after: int = Query(0, ge=0)) -> Response:
        if await runtime.queue.get(task_id) is None:
            return _not_found(task_id)
        return StreamingResponse(
            _event_lines(runtime, task_id, after), media_type="application/x-ndjson"
        )


async def _event_lines(runtime: WorkflowRuntime, task_id: str, after: int) -> AsyncIterator[str]:
    """NDJSON: each event, then one ``{"final": record}`` line when the task ends."""
    deadline = time.monotonic() + _MAX_WAIT * 4
    while time.monotonic() < deadline:
        record = await runtime.queue.get(task_id)
        events = await runtime.queue.wait_events(task_id, after, runtime.config.step_interval)
        for event in events:
            after = event.seq
            yield event.model_dump_json() + "\n"
        if record is None or (record.is_final and not events):
            final = record.model_dump(mode="json") if record is not None else None
            yield json.dumps({"final": final}) + "\n"
            return


def _add_session_routes(app: FastAPI, runtime: WorkflowRuntime) -> None:
    @app.get("/sessions/{session_id}/state")
    async def get_state(session_id: str) -> Response:
        state = await asyncio.to_thread(runtime.sessions.get, session_id)
        return Response(state.model_dump_json(), media_type=_JSON)

    @app.post("/sessions/{session_id}/state")
    async def put_state(session_id: str, update: SessionUpdate) -> Response:
        try:
            state = await asyncio.to_thread(
                runtime.sessions.put,
                session_id,
                update.state,
                expected_version=update.expected_version,
                merge=update.merge,
            )
        except ConcurrentUpdateError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)
        except ConfigError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return Response(state.model_dump_json(), media_type=_JSON)
