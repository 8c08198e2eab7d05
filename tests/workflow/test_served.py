"""A workflow service served in-process (``launch_local``), exercised over real loopback HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from plugin_core import ConcurrentUpdateError
from plugin_core.workflow import (
    AsyncWorkflowClient,
    LocalWorkflow,
    TaskState,
    WorkflowBusyError,
    WorkflowService,
    WorkflowTaskError,
)
from tests.workflow import flows

pytestmark = pytest.mark.integration


@asynccontextmanager
async def served(workflow: str, **settings: Any) -> AsyncIterator[LocalWorkflow]:
    """Serve ``tests.workflow.flows:<workflow>`` in this loop; drain and stop afterwards."""
    service = WorkflowService.for_workflow(
        f"tests.workflow.flows:{workflow}", name=f"wf-{workflow}", **settings
    )
    local = await service.launch_local()
    try:
        yield local
    finally:
        if not local.task.done():
            await local.stop()


async def running_count(http: httpx.AsyncClient) -> int:
    return int((await http.get("/")).json()["counts"]["running"])


class TestServing:
    @pytest.mark.asyncio
    async def test_sync_callable_answers_over_http(self) -> None:
        """A plain function is served: the task's result comes back as JSON, and / counts it."""
        async with served("add") as local, httpx.AsyncClient(base_url=local.url) as http:
            answer = await http.post("/tasks", params={"wait": 5}, json={"input": {"a": 2, "b": 3}})
            assert answer.status_code == 200
            assert answer.json()["state"] == "succeeded" and answer.json()["result"] == 5
            again = await http.get(f"/tasks/{answer.json()['task_id']}")
            assert again.json()["result"] == 5
            home = (await http.get("/")).json()
            assert home["name"] == "wf-add" and home["counts"]["succeeded"] == 1
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).json() == {"ready": True, "reason": "ready"}

    @pytest.mark.asyncio
    async def test_async_workflow_object_streams_events(self) -> None:
        """An object with async run() is a workflow; its progress events stream before the end."""
        async with served("Greeter") as local, AsyncWorkflowClient(local.url) as client:
            task_id = await client.submit({"name": "outlive"})
            steps = [event.data["step"] async for event in client.stream_events(task_id)]
            record = await client.wait(task_id, timeout=5)
        assert steps == ["parse", "greet"]
        assert record.state == TaskState.SUCCEEDED and record.result == "hello outlive"

    @pytest.mark.asyncio
    async def test_process_message_alias_accepts_a_task(self) -> None:
        """llama_deploy's route name still works, answering 202 and a task id."""
        async with served("echo") as local, httpx.AsyncClient(base_url=local.url) as http:
            answer = await http.post("/process_message", json={"input": {"x": 1}})
            assert answer.status_code in (200, 202) and answer.json()["task_id"]

    @pytest.mark.asyncio
    async def test_exception_becomes_an_error_result(self) -> None:
        """A failing callable yields a FAILED task with the error, and the service keeps serving."""
        async with served("boom") as local, AsyncWorkflowClient(local.url) as client:
            with pytest.raises(WorkflowTaskError) as raised:
                await client.run(message="no such order")
            assert raised.value.record.state == TaskState.FAILED
            assert raised.value.record.error == "ValueError: no such order"
            assert (await client.info())["state"] == "ready"

    @pytest.mark.asyncio
    async def test_same_task_id_submits_once(self) -> None:
        """Resubmitting a client-chosen task id (a retried step) returns the first task."""
        async with served("add") as local, AsyncWorkflowClient(local.url) as client:
            first = await client.submit({"a": 1, "b": 1}, task_id="step-42")
            second = await client.submit({"a": 5, "b": 5}, task_id="step-42")
            record = await client.wait(first, timeout=5)
            assert first == second == "step-42" and record.result == 2
            assert (await client.info())["counts"]["succeeded"] == 1

    @pytest.mark.asyncio
    async def test_unknown_task_is_404(self) -> None:
        """Asking for a task that never existed is a 404, not a hang."""
        async with served("add") as local, httpx.AsyncClient(base_url=local.url) as http:
            assert (await http.get("/tasks/nope", params={"wait": 1})).status_code == 404


class TestConcurrency:
    @pytest.mark.asyncio
    async def test_never_more_than_max_concurrent_tasks_run(self) -> None:
        """With max_concurrent_tasks=3, fifteen tasks run three at a time, never four."""
        flows.peak = 0
        async with (
            served("tracked", max_concurrent_tasks=3) as local,
            AsyncWorkflowClient(local.url) as client,
        ):
            # Tasks long enough (0.3 s) that three are in flight even when submitting is slow.
            ids = [await client.submit({"seconds": 0.3}) for _ in range(15)]
            records = [await client.wait(task_id, timeout=30) for task_id in ids]
        assert all(record.state == TaskState.SUCCEEDED for record in records)
        assert flows.peak == 3

    @pytest.mark.asyncio
    async def test_overload_is_refused_with_retry_after(self) -> None:
        """When the intake is full, new tasks get 429 with Retry-After; /readyz says not ready."""
        settings = {"max_concurrent_tasks": 1, "max_queued_tasks": 2, "drain_timeout": 0}
        async with (
            served("sleepy", **settings) as local,
            httpx.AsyncClient(base_url=local.url) as http,
        ):
            first = await http.post("/tasks", json={"input": {"seconds": 3}})
            assert first.status_code == 202
            while await running_count(http) < 1:
                await asyncio.sleep(0.01)
            answers = [await http.post("/tasks", json={"input": {"seconds": 3}}) for _ in range(6)]
            codes = [answer.status_code for answer in answers]
            assert codes == [202, 202, 429, 429, 429, 429]
            assert all(int(a.headers["Retry-After"]) >= 1 for a in answers[2:])
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and "full" in ready.json()["reason"]
            async with AsyncWorkflowClient(local.url, busy_timeout=0) as client:
                with pytest.raises(WorkflowBusyError) as raised:
                    await client.submit({"seconds": 3})
            assert raised.value.status_code == 429 and raised.value.retry_after >= 1


class TestTimeouts:
    @pytest.mark.asyncio
    async def test_async_task_over_its_timeout_is_cancelled(self) -> None:
        """A coroutine past task_timeout is cancelled (it sees CancelledError) and reported so."""
        async with (
            served("sleepy", task_timeout=0.3) as local,
            AsyncWorkflowClient(local.url) as client,
        ):
            started = time.monotonic()
            task_id = await client.submit({"seconds": 30})
            record = await client.wait(task_id, timeout=10)
        assert record.state == TaskState.TIMED_OUT and "task_timeout" in (record.error or "")
        assert time.monotonic() - started < 3
        assert task_id in flows.cancelled

    @pytest.mark.asyncio
    async def test_sync_task_over_its_timeout_is_reported_at_once(self) -> None:
        """A thread cannot be interrupted, but its task is reported TIMED_OUT at the deadline,
        and its slot is reused once the thread ends, even if it ends in an error."""
        settings = {"task_timeout": 0.2, "max_concurrent_tasks": 1}
        async with (
            served("blocking", **settings) as local,
            AsyncWorkflowClient(local.url) as client,
        ):
            started = time.monotonic()
            record = await client.wait(await client.submit({"seconds": 2, "fail": True}), 10)
            assert record.state == TaskState.TIMED_OUT
            assert time.monotonic() - started < 1.8
            assert await client.run(seconds=0) == "done"

    @pytest.mark.asyncio
    async def test_raise_exceptions_stops_the_service(self) -> None:
        """With raise_exceptions, a failing task is recorded, then the error stops the service."""
        async with served("boom", raise_exceptions=True) as local:
            async with AsyncWorkflowClient(local.url) as client:
                record = await client.wait(await client.submit(), timeout=5)
            assert record.state == TaskState.FAILED
            with pytest.raises(ValueError, match="bad input"):
                await asyncio.wait_for(local.task, timeout=10)


class TestSessions:
    @pytest.mark.asyncio
    async def test_conditional_update_refuses_a_stale_version(self) -> None:
        """Writing with an old expected_version answers 409; a fresh one succeeds."""
        async with served("echo") as local, AsyncWorkflowClient(local.url) as client:
            first = await client.update_session_state("s1", {"topic": "a"}, expected_version=0)
            with pytest.raises(ConcurrentUpdateError):
                await client.update_session_state("s1", {"topic": "b"}, expected_version=0)
            second = await client.update_session_state("s1", {"n": 1}, expected_version=1)
            assert (first.version, second.version) == (1, 2)
            assert (await client.get_session_state("s1")).state == {"topic": "a", "n": 1}

    @pytest.mark.asyncio
    async def test_tasks_share_their_session_state(self) -> None:
        """Tasks of one session see each other's writes; another session starts fresh."""
        async with served("count_visits") as local, AsyncWorkflowClient(local.url) as client:
            results = [await client.run(session_id="alice") for _ in range(3)]
            other = await client.run(session_id="bob")
        assert results == [1, 2, 3] and other == 1
