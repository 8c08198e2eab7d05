"""llama_deploy-style programs against real ``llama-index-workflows`` workflows, end to end.

Written as a llama_deploy 0.5 user writes them (``WorkflowService(workflow, ...)``,
``launch_local``, ``launch_server``, ``process_message(QueueMessage)``, session state,
control-plane registration), with outlive's imports, over real loopback HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

from tests.conftest import in_ci

try:
    import workflows  # noqa: F401 - llama-index-workflows, the `test-workflow` extra
except ImportError:
    if in_ci():
        raise
    pytest.skip(
        "pip install 'outlive[test-workflow]' (llama-index-workflows)", allow_module_level=True
    )

from workflows import Context
from workflows.context import JsonSerializer
from workflows.events import HumanResponseEvent

from plugin_core import ConfigError
from plugin_core.workflow import (
    ActionTypes,
    AsyncWorkflowClient,
    QueueMessage,
    ReplicaDirectory,
    TaskDefinition,
    TaskState,
    WorkflowService,
    WorkflowState,
)
from tests.workflow import llama_flows
from tests.workflow.conftest import free_port

pytestmark = pytest.mark.integration


def new_task(
    service: str, task_id: str, session_id: str | None = None, **kwargs: object
) -> QueueMessage:
    """A NEW_TASK message as llama_deploy's control plane sends it."""
    task = TaskDefinition(input=json.dumps(kwargs), task_id=task_id, session_id=session_id)
    return QueueMessage(type=service, action=ActionTypes.NEW_TASK, data=task.model_dump())


def service_for(workflow: object, tmp_path: Path, name: str, **kwargs: object) -> WorkflowService:
    return WorkflowService(
        workflow,
        message_queue=f"sqlite:///{tmp_path / (name + '.queue.db')}",
        description="a llama workflow",
        service_name=name,
        **kwargs,
    )


async def until_ready(url: str) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(600):
            try:
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never got ready")


class TestLaunchLocal:
    @pytest.mark.asyncio
    async def test_launch_local_is_a_task_that_runs_messages_and_stops_on_cancel(
        self, tmp_path: Path, registry_url: str
    ) -> None:
        """launch_local() returns the serving asyncio.Task; process_message queues a NEW_TASK
        that the real workflow answers; cancel() drains and deregisters the replica."""
        service = service_for(llama_flows.echo_flow, tmp_path, "llama-local")
        await service.register_to_control_plane(registry_url)
        task = await service.launch_local()
        assert isinstance(task, asyncio.Task) and not task.done()
        record = await service.process_message(new_task("llama-local", "t-1", topic="cats"))
        assert record is not None and record.task_id == "t-1"
        async with AsyncWorkflowClient(f"http://127.0.0.1:{service.port}") as client:
            done = await client.wait("t-1", timeout=30)
            events = [event.data async for event in client.stream_events("t-1")]
        assert done.state == TaskState.SUCCEEDED and done.result == "echo cats"
        assert events == [{"event": "Progress", "data": {"msg": "answering"}}]  # no StopEvent copy
        assert [r.url for r in ReplicaDirectory(registry_url).find("llama-local")] == [task.url]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ReplicaDirectory(registry_url).find("llama-local") == []

    @pytest.mark.asyncio
    async def test_running_false_accepts_but_runs_nothing_until_set_back(
        self, tmp_path: Path
    ) -> None:
        """llama_deploy's `running` flag: tasks wait while it is False, then run."""
        service = service_for(llama_flows.echo_flow, tmp_path, "llama-paused", running=False)
        task = await service.launch_local()
        try:
            await service.process_message(new_task("llama-paused", "p-1", topic="later"))
            waiting = await service.wait_for_task("p-1", timeout=0.5)
            assert waiting.state == TaskState.QUEUED and service.running is False
            service.running = True
            assert (await service.wait_for_task("p-1", timeout=30)).result == "echo later"
            assert (await service.home())["running"] == "True"
        finally:
            await task.stop()


class TestLaunchServer:
    @pytest.mark.asyncio
    async def test_server_takes_queue_messages_over_http_and_cancel_is_clean(
        self, tmp_path: Path, registry_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """launch_server() in a task: POST /process_message with a QueueMessage body runs the
        workflow; register/deregister show in the registry; cancel logs no ERROR."""
        port = free_port()
        service = service_for(
            llama_flows.echo_flow, tmp_path, "llama-server", host="127.0.0.1", port=port
        )
        url = f"http://127.0.0.1:{port}"
        with caplog.at_level(logging.INFO):
            server = asyncio.create_task(service.launch_server())
            await until_ready(url)
            await service.register_to_control_plane(registry_url)
            listed = ReplicaDirectory(registry_url).find("llama-server", alive=True)
            message = new_task("llama-server", "h-1", topic="dogs").model_dump(mode="json")
            async with httpx.AsyncClient(base_url=url) as http:
                accepted = await http.post("/process_message", json=message)
                ours = await http.post("/process_message", json={"input": {"topic": "owls"}})
                home = (await http.get("/")).json()
            async with AsyncWorkflowClient(url) as client:
                first = await client.wait("h-1", timeout=30)
                second = await client.wait(ours.json()["task_id"], timeout=30)
            await service.deregister_from_control_plane()
            after_deregister = ReplicaDirectory(registry_url).find("llama-server")
            server.cancel()
            with pytest.raises(asyncio.CancelledError):
                await server
        assert [r.url for r in listed] == [url]
        assert accepted.status_code == 202 and accepted.json()["task_id"] == "h-1"
        assert first.result == "echo dogs" and second.result == "echo owls"
        assert home["service_name"] == "llama-server" and home["type"] == "workflow_service"
        assert after_deregister == []
        assert ReplicaDirectory(registry_url).find("llama-server") == []
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert any("stopped and deregistered" in r.getMessage() for r in caplog.records)

    @pytest.mark.asyncio
    async def test_send_event_reaches_a_waiting_workflow(self, tmp_path: Path) -> None:
        """SEND_EVENT (human in the loop) over /process_message, serialized as llama does."""
        service = service_for(llama_flows.ask_flow, tmp_path, "llama-ask")
        task = await service.launch_local()
        try:
            await service.process_message(new_task("llama-ask", "ask-1"))
            answer = JsonSerializer().serialize(HumanResponseEvent(response="Ada"))
            event = TaskDefinition(input=answer, task_id="ask-1")
            message = QueueMessage(
                type="llama-ask", action=ActionTypes.SEND_EVENT, data=event.model_dump()
            )
            async with httpx.AsyncClient(base_url=task.url) as http:
                for _ in range(600):  # until the workflow runs (bounded: 30 s)
                    sent = await http.post("/process_message", json=message.model_dump(mode="json"))
                    if sent.status_code == 202:
                        break
                    await asyncio.sleep(0.05)
            assert sent.status_code == 202
            assert (await service.wait_for_task("ask-1", timeout=30)).result == "hello Ada"
        finally:
            await task.stop()


class TestState:
    @pytest.mark.asyncio
    async def test_session_state_is_a_dict_and_none_when_unknown(
        self, tmp_path: Path, registry_url: str
    ) -> None:
        service = service_for(llama_flows.echo_flow, tmp_path, "llama-state")
        await service.register_to_control_plane(registry_url)
        assert await service.get_session_state("nobody") is None
        await service.update_session_state("s1", {"topic": "a"})
        await service.update_session_state("s1", {"n": 1})
        assert await service.get_session_state("s1") == {"topic": "a", "n": 1}

    @pytest.mark.asyncio
    async def test_a_sessions_runs_share_the_workflow_context(
        self, tmp_path: Path, registry_url: str
    ) -> None:
        """The context is saved per session (JSON, never pickled): run 2 of a session sees
        run 1's store; another session starts fresh; get_workflow_state returns it."""
        service = service_for(llama_flows.counter_flow, tmp_path, "llama-count")
        await service.register_to_control_plane(registry_url)
        task = await service.launch_local()
        try:
            results = []
            for index, session in enumerate(["alice", "alice", "bob", "alice"]):
                await service.process_message(new_task("llama-count", f"c-{index}", session))
                results.append((await service.wait_for_task(f"c-{index}", timeout=30)).result)
            ctx = await service.get_workflow_state(WorkflowState(session_id="alice"))
            direct = WorkflowState(task_id="direct-1", session_id="bob", run_kwargs={})
            await service.process_call(direct)
            bob = (await service.wait_for_task("direct-1", timeout=5)).result
        finally:
            await task.stop()
        assert results == [1, 2, 1, 3] and bob == 2
        assert isinstance(ctx, Context) and await ctx.store.get("visits") == 3
        saved = (await service.get_session_state("alice")) or {}
        assert json.loads(saved["alice"])["state"]  # JSON text, loadable without unpickling


class TestProcessingLoop:
    @pytest.mark.asyncio
    async def test_consumer_and_processing_loop_without_http(self, tmp_path: Path) -> None:
        """as_consumer() delivers messages; register_to_message_queue() gives the coroutine
        that consumes them (the processing loop); cancelling it stops quietly."""
        service = service_for(llama_flows.echo_flow, tmp_path, "llama-loop")
        consumer = service.as_consumer()
        assert consumer.message_type == "llama-loop"
        assert service.as_consumer(remote=True).url.endswith("/process_message")
        await consumer.process_message(new_task("llama-loop", "l-1", topic="fish"))
        with pytest.raises(ValueError, match="cannot process messages of type 'other'"):
            await consumer.process_message(new_task("other", "l-2"))
        start_consuming = await service.register_to_message_queue()
        loop = asyncio.create_task(start_consuming())
        try:
            assert (await service.wait_for_task("l-1", timeout=30)).result == "echo fish"
        finally:
            loop.cancel()
            await loop  # processing_loop returns on cancel, as llama_deploy's does
        assert service.service_definition.service_name == "llama-loop"


class TestLifespan:
    @pytest.mark.asyncio
    async def test_lifespan_runs_the_workers_with_your_own_app(self, tmp_path: Path) -> None:
        """``FastAPI(lifespan=service.lifespan)``: the workers start and stop with that app."""
        from fastapi import FastAPI

        service = service_for(llama_flows.echo_flow, tmp_path, "llama-lifespan")
        app = FastAPI(lifespan=service.lifespan)
        async with service.lifespan(app):
            await service.process_message(new_task("llama-lifespan", "ls-1", topic="moths"))
            record = await service.wait_for_task("ls-1", timeout=30)
            home = await service.home()
        assert record.result == "echo moths"
        assert home["service_name"] == "llama-lifespan" and home["type"] == "workflow_service"


class TestConstruction:
    def test_module_level_workflow_object_gets_its_import_path(self, tmp_path: Path) -> None:
        service = service_for(llama_flows.echo_flow, tmp_path, "llama-path")
        assert service.config.workflow == "tests.workflow.llama_flows:echo_flow"
        assert service.workflow is llama_flows.echo_flow
        service.check_importable()  # a daemon could load it back

    def test_an_object_without_an_import_path_cannot_become_a_daemon(self, tmp_path: Path) -> None:
        """Served in-process it works; start() as a daemon is refused with the fix."""
        service = service_for(llama_flows.EchoFlow(timeout=5), tmp_path, "llama-anon")
        with pytest.raises(ConfigError, match="module-level name"):
            service.check_importable()

    def test_config_and_llama_arguments_do_not_mix(self) -> None:
        from plugin_core.workflow import WorkflowServiceConfig

        config = WorkflowServiceConfig(name="x", workflow="tests.workflow.flows:add")
        with pytest.raises(ConfigError, match="not both"):
            WorkflowService(llama_flows.echo_flow, config=config)

    @pytest.mark.asyncio
    async def test_an_http_control_plane_url_is_refused_with_the_fix(self, tmp_path: Path) -> None:
        service = service_for(llama_flows.echo_flow, tmp_path, "llama-cp")
        with pytest.raises(ConfigError, match="registry URL"):
            await service.register_to_control_plane("http://127.0.0.1:8000")
        with pytest.raises(ValueError, match="register_to_control_plane first"):
            await service.deregister_from_control_plane()


class TestDaemonFromObject:
    def test_a_module_level_workflow_object_runs_as_a_daemon(self) -> None:
        """Built the llama_deploy way and started through the lifecycle: the daemon imports
        the same object by its path, serves it, and stops cleanly."""
        from plugin_core import ServiceState, start_service, stop_service

        service = start_service(
            WorkflowService(llama_flows.echo_flow, service_name="llama-daemon"), timeout=60
        )
        try:
            assert service.status.state == ServiceState.ACTIVE
            with service.client() as client:
                assert client.run(topic="birds") == "echo birds"
            assert len(service.replicas(alive=True)) == 1
        finally:
            stopped = stop_service(service)
        assert stopped.status.state == ServiceState.INACTIVE and service.replicas() == []
