"""Each task against real services (file servers, a LocalDaemonService), inside real flows."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import psutil
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

import plugin_core as core
from prefect_ext import (
    CommandServiceBlock,
    LocalDaemonServiceBlock,
    find_services,
    get_service_logs,
    get_service_status,
    start_service,
    stop_service,
    update_service,
    wait_for_service,
)
from prefect_ext.artifacts import artifact_keys

pytestmark = pytest.mark.integration


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """Status and body of a GET; an HTTP error status is returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def refuses(url: str) -> bool:
    """True when nothing listens at ``url`` any more."""
    try:
        http_get(url, timeout=2.0)
    except (urllib.error.URLError, ConnectionError):
        return True
    return False


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def slow_server_command(delay: float, token: str) -> list[str]:
    """A file server that sleeps ``delay`` seconds before it listens; ``token`` marks its argv."""
    code = (
        f"import runpy, sys, time; {token!r}; time.sleep({delay}); "
        "sys.argv = ['http.server', '{port}', '--bind', '127.0.0.1']; "
        "runpy.run_module('http.server', run_name='__main__')"
    )
    return [sys.executable, "-c", code]


def processes_with(token: str) -> list[psutil.Process]:
    """Live processes whose command line contains ``token``."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if any(token in part for part in cmdline) and proc.status() != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def events_seen(service_uuid: str, wanted: set[str], timeout: float = 30.0) -> set[str]:
    """Names of the `outlive.service.*` events the server stored for a service (waits for
    ``wanted``: events are sent in the background and persisted in batches)."""
    event_filter = EventFilter(
        event=EventNameFilter(prefix=["outlive.service."]),
        resource=EventResourceFilter(id=[f"outlive.service.{service_uuid}"]),
    )
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not wanted <= seen:
        with get_client(sync_client=True) as client:
            page = client.read_events(filter=event_filter, limit=50)
        seen = {event.event for event in page.events}
        time.sleep(0.5)
    return seen


@pytest.fixture
def web(http_command: list[str]) -> CommandServiceBlock:
    """A file-server block (the root conftest stops every service a test leaves running)."""
    return CommandServiceBlock(
        service_name=unique("web"), command=http_command, labels={"suite": "prefect-tasks"}
    )


class TestStartService:
    def test_starts_a_service_that_answers_and_returns_plain_data(
        self, web: CommandServiceBlock
    ) -> None:
        """The task returns JSON-able info of an ACTIVE service whose URL answers HTTP."""

        @flow
        def serve() -> dict[str, Any]:
            return start_service(web, timeout=30)

        info = serve()

        assert json.loads(json.dumps(info)) == info
        assert info["name"] == web.service_name and info["state"] == "active"
        assert http_get(info["url"])[0] == 200

    def test_publishes_a_link_and_a_state_table_under_fixed_keys(
        self, web: CommandServiceBlock
    ) -> None:
        """The run gets a link artifact to the URL and a table artifact with the state."""

        @flow
        def serve() -> dict[str, Any]:
            return start_service(web, timeout=30)

        info = serve()
        link_key, table_key = artifact_keys(web.service_name)
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[link_key, table_key]))
            )
        by_key = {artifact.key: artifact for artifact in artifacts}

        assert info["url"] in str(by_key[link_key].data)
        rows = json.loads(by_key[table_key].data)  # type: ignore[arg-type]
        assert {"field": "state", "value": "active"} in rows
        assert {"field": "uuid", "value": info["uuid"]} in rows

    def test_emits_events_on_the_service_resource(self, web: CommandServiceBlock) -> None:
        """`outlive.service.started` and `.active` are emitted on resource outlive.service.<uuid>."""

        @flow
        def serve() -> dict[str, Any]:
            return start_service(web, timeout=30)

        info = serve()
        wanted = {"outlive.service.started", "outlive.service.active"}

        assert wanted <= events_seen(info["uuid"], wanted)

    def test_a_flow_file_loads_the_event_machinery_only_when_a_task_runs(
        self, web: CommandServiceBlock
    ) -> None:
        """Importing the tasks and building a block (every flow file, at parse time) leaves
        the core's events unloaded; a start still records and reports its outcome."""
        code = (
            "import sys; from prefect import flow;"
            "from prefect_ext import CommandServiceBlock, start_service, wait_for_service;"
            "CommandServiceBlock(service_name='parse', command=['true']).get_service();"
            "print('plugin_core.events' in sys.modules)"
        )
        parsed = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()

        @flow
        def serve() -> dict[str, Any]:
            return start_service(web, timeout=30)

        info = serve()
        recorded = core.EventLog().read(web.service_name)

        assert parsed == ["False"]
        assert info["outcome"] == "started" and info["state"] == "active"
        assert [event.outcome.value for event in recorded][:2] == ["started", "active"]

    def test_a_dict_definition_and_a_daemon_block_also_start(self) -> None:
        """Definitions for load_service and LocalDaemonService subclasses start the same way."""
        echo = LocalDaemonServiceBlock(
            service_name=unique("echo"),
            service_class="tests.prefect.daemon_services.EchoService",
            config={"greeting": "bonjour"},
        )
        definition = {
            "type": "command",
            "config": {
                "name": unique("dict-web"),
                "command": [sys.executable, "-m", "http.server", "{port}", "--bind", "{host}"],
            },
            "endpoint": {"protocol": "http", "health": "/"},
        }

        @flow
        def serve_both() -> list[dict[str, Any]]:
            return [start_service(echo, timeout=30), start_service(definition, timeout=30)]

        echo_info, dict_info = serve_both()
        assert http_get(echo_info["url"]) == (200, "bonjour")
        assert http_get(dict_info["url"])[0] == 200

    def test_a_retried_start_reuses_the_service_it_already_started(self) -> None:
        """A start that times out and is retried by Prefect ends with one service, one process."""
        token = unique("retry-token")
        name = unique("slow")
        block = CommandServiceBlock(service_name=name, command=slow_server_command(2.0, token))
        retrying_start = start_service.with_options(retries=6, retry_delay_seconds=0.5)

        @flow
        def serve() -> tuple[dict[str, Any], int]:
            state = retrying_start(block, timeout=0.5, return_state=True)
            assert state.state_details.task_run_id is not None
            with get_client(sync_client=True) as client:
                task_run = client.read_task_run(state.state_details.task_run_id)
            return state.result(), task_run.run_count

        info, attempts = serve()
        assert attempts >= 2, "the first attempt should have timed out and been retried"
        assert info["state"] == "active"
        assert len(core.find_services(name=name)) == 1
        assert len(processes_with(token)) == 1

    def test_a_service_that_cannot_start_fails_the_task_with_its_log(self) -> None:
        """A command that exits at once fails the task with its output, and emits `failed`."""
        name = unique("broken")
        block = CommandServiceBlock(
            service_name=name,
            command=[sys.executable, "-c", "import sys; print('no model file'); sys.exit(3)"],
        )

        @flow
        def serve() -> dict[str, Any]:
            return start_service(block, timeout=30)

        with pytest.raises(core.LifecycleError) as excinfo:
            serve()

        assert "no model file" in str(excinfo.value)
        failed = str(core.get_service(name, refresh=False).uuid)
        assert "outlive.service.failed" in events_seen(failed, {"outlive.service.failed"})


class TestNoCache:
    def test_tasks_act_again_even_with_result_persistence(self, web: CommandServiceBlock) -> None:
        """With results persisted, a repeated start, stop or status call acts on the live service."""
        persisted = {"persist_result": True}
        start = start_service.with_options(**persisted)
        stop = stop_service.with_options(**persisted)
        status = get_service_status.with_options(**persisted)

        @flow
        def start_stop_start() -> list[dict[str, Any]]:
            first, seen_active = start(web, timeout=30), status(web.service_name)
            stop(web.service_name)
            seen_stopped = status(web.service_name)
            second = start(web, timeout=30)
            stop(web.service_name)
            return [first, seen_active, seen_stopped, second, status(web.service_name)]

        first, seen_active, seen_stopped, second, seen_last = start_stop_start()

        assert [seen_active["state"], seen_stopped["state"]] == ["active", "inactive"]
        assert second["state"] == "active" and second["pid"] != first["pid"]
        assert seen_last["state"] == "inactive"


class TestStopService:
    def test_stops_the_service_and_its_processes(self, web: CommandServiceBlock) -> None:
        """After the task the URL refuses connections and the service's process is gone."""

        @flow
        def serve_then_stop() -> tuple[dict[str, Any], dict[str, Any]]:
            started = start_service(web, timeout=30)
            return started, stop_service(web.service_name)

        started, stopped = serve_then_stop()

        assert stopped["state"] == "inactive" and stopped["admin_state"] == "inactive"
        assert refuses(started["url"])
        assert not psutil.pid_exists(started["pid"]) or (
            psutil.Process(started["pid"]).status() == psutil.STATUS_ZOMBIE
        )


class TestUpdateService:
    def test_applies_a_new_definition_and_the_service_answers_it(self) -> None:
        """Updating a running echo service to a new greeting restarts it with that greeting."""
        name = unique("echo")
        block = LocalDaemonServiceBlock(
            service_name=name,
            service_class="tests.prefect.daemon_services.EchoService",
            config={"greeting": "v1"},
        )
        changed = block.model_copy(update={"config": {"greeting": "v2"}})

        @flow
        def serve_then_update() -> tuple[dict[str, Any], dict[str, Any]]:
            return start_service(block, timeout=30), update_service(name, changed, timeout=30)

        before, after = serve_then_update()
        assert after["uuid"] == before["uuid"] and after["state"] == "active"
        assert http_get(after["url"]) == (200, "v2")


class TestWaitForService:
    def test_returns_once_a_slow_service_is_active(self) -> None:
        """Waiting on a service that needs a second to listen returns ACTIVE info."""
        name = unique("slow")
        block = CommandServiceBlock(
            service_name=name, command=slow_server_command(1.0, unique("wait-token"))
        )

        @flow
        def serve_then_wait() -> dict[str, Any]:
            with contextlib.suppress(core.StartTimeoutError):  # waiting is the next task's job
                start_service(block, timeout=0.1)
            return wait_for_service(name, timeout=30)

        info = serve_then_wait()
        assert info["state"] == "active" and http_get(info["url"])[0] == 200

    def test_an_unknown_name_fails_at_once_unless_waiting_for_registration(self) -> None:
        """The core's one rule, as the Airflow sensor and the CLI apply it: an unknown name
        fails at once; with wait_for_registration=True, a service started later is waited for."""
        name = unique("later")

        @flow
        def wait_unknown() -> dict[str, Any]:
            return wait_for_service(name, timeout=120)

        began = time.monotonic()
        with pytest.raises(core.ServiceNotFoundError, match=name):
            wait_unknown()
        assert time.monotonic() - began < 60

        block = CommandServiceBlock(service_name=name, command=slow_server_command(0.2, name))
        later = threading.Timer(1.0, lambda: core.start_service(block.get_service(), wait=False))

        @flow
        def wait_registered() -> dict[str, Any]:
            return wait_for_service(name, timeout=60, wait_for_registration=True)

        later.start()
        try:
            info = wait_registered()
        finally:
            later.join()
        assert info["state"] == "active"

    def test_times_out_on_a_service_that_never_gets_healthy(self, http_command: list[str]) -> None:
        """A health path that answers 404 never counts as ACTIVE: the wait times out, clearly."""
        name = unique("unhealthy")
        block = CommandServiceBlock(
            service_name=name, command=http_command, health_path="/no-such-health-route"
        )

        @flow
        def serve_then_wait() -> None:
            with contextlib.suppress(core.StartTimeoutError):  # waiting is the next task's job
                start_service(block, timeout=0.5)
            wait_for_service(name, timeout=2)

        started = time.monotonic()
        with pytest.raises(core.StartTimeoutError, match=name):
            serve_then_wait()
        assert time.monotonic() - started < 20

    def test_prefect_task_timeout_interrupts_a_long_wait(self, http_command: list[str]) -> None:
        """A task `timeout_seconds` cancels a wait that was allowed far longer."""
        name = unique("unhealthy")
        block = CommandServiceBlock(
            service_name=name, command=http_command, health_path="/no-such-health-route"
        )
        short_wait = wait_for_service.with_options(timeout_seconds=2)

        @flow
        def serve_then_wait() -> None:
            with contextlib.suppress(core.StartTimeoutError):  # waiting is the next task's job
                start_service(block, timeout=0.5)
            short_wait(name, timeout=120)

        started = time.monotonic()
        with pytest.raises(TimeoutError) as excinfo:
            serve_then_wait()
        assert not isinstance(excinfo.value, core.StartTimeoutError)  # Prefect's, not ours
        assert time.monotonic() - started < 30


class TestLookups:
    def test_status_logs_and_find(self, web: CommandServiceBlock) -> None:
        """Status, logs and find describe the running service as plain data."""

        @flow
        def inspect() -> tuple[Any, ...]:
            info = start_service(web, timeout=30)
            http_get(info["url"] + "/?from=test")
            return (
                info,
                get_service_status(web.service_name),
                get_service_logs(web.service_name, tail=50),
                find_services(name=web.service_name),
                find_services(labels={"suite": "prefect-tasks"}),
            )

        info, status, logs, by_name, by_label = inspect()

        assert status["state"] == "active" and status["uuid"] == info["uuid"]
        assert logs["uuid"] == info["uuid"]
        assert any("GET /?from=test" in line for line in logs["lines"])
        assert [found["uuid"] for found in by_name] == [info["uuid"]]
        assert info["uuid"] in {found["uuid"] for found in by_label}
        assert json.loads(json.dumps([status, logs, by_name])) == [status, logs, by_name]

    def test_an_unknown_name_fails_with_not_found(self) -> None:
        """Asking for a service nobody started raises ServiceNotFoundError naming it."""

        @flow
        def look() -> dict[str, Any]:
            return get_service_status("never-started-service")

        with pytest.raises(core.ServiceNotFoundError, match="never-started-service"):
            look()
