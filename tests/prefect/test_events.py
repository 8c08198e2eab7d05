"""Prefect events say what really happened, once: exact sequences on a real Prefect server,
and `died` from a watcher service after the flow that started the service has ended."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOrder,
    EventResourceFilter,
)

import plugin_core as core
from prefect_ext import CommandServiceBlock, start_service, stop_service, wait_for_service
from tests.prefect.test_tasks import slow_server_command, unique

pytestmark = pytest.mark.integration


def server_events(uuid: str) -> list[Any]:
    """The `outlive.service.*` events the server stored for the service, oldest first."""
    event_filter = EventFilter(
        event=EventNameFilter(prefix=["outlive.service."]),
        resource=EventResourceFilter(id=[f"outlive.service.{uuid}"]),
        order=EventOrder.ASC,
    )
    with get_client(sync_client=True) as client:
        return list(client.read_events(filter=event_filter, limit=50).events)


def sequence(uuid: str, count: int, timeout: float = 30.0) -> list[str]:
    """Event names once ``count`` arrived, read again after a flush (to catch extras)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(server_events(uuid)) < count:
        time.sleep(0.3)
    time.sleep(1.5)  # events are persisted in batches: anything extra would show by now
    return [event.event.removeprefix("outlive.service.") for event in server_events(uuid)]


def serve(block: CommandServiceBlock, **kwargs: Any) -> dict[str, Any]:
    @flow
    def run() -> dict[str, Any]:
        return start_service(block, timeout=30, **kwargs)

    return run()


class TestExactSequences:
    def test_start_reuse_restart_conflict_stop(self, http_command: list[str]) -> None:
        """Fresh start, start again, changed definition, refused change, stop: one event per
        transition, and no `failed` for the healthy service a conflict left alone."""
        block = CommandServiceBlock(service_name=unique("seq"), command=http_command)
        first = serve(block)
        assert first["outcome"] == "started"
        assert sequence(first["uuid"], 2) == ["started", "active"]

        assert serve(block)["outcome"] == "reused"
        assert sequence(first["uuid"], 3) == ["started", "active", "reused"]

        changed = block.model_copy(update={"model_version": "2"})
        assert serve(changed)["outcome"] == "restarted"
        assert sequence(first["uuid"], 5)[3:] == ["restarted", "active"]

        with pytest.raises(core.ServiceConfigConflictError):
            serve(block, on_change="fail")

        @flow
        def stop() -> dict[str, Any] | None:
            return stop_service(block.service_name)

        assert stop()["outcome"] == "stopped"  # type: ignore[index]
        assert sequence(first["uuid"], 6) == [
            "started",
            "active",
            "reused",
            "restarted",
            "active",
            "stopped",
        ]

    def test_a_wait_after_a_timed_out_start_reports_active_once(self) -> None:
        name = unique("late")
        block = CommandServiceBlock(service_name=name, command=slow_server_command(1.5, name))

        @flow
        def start_then_wait_twice() -> dict[str, Any]:
            state = start_service(block, timeout=0.2, return_state=True)
            assert state.is_failed()
            wait_for_service(name, timeout=30)
            return wait_for_service(name, timeout=30)

        info = start_then_wait_twice()
        assert sequence(info["uuid"], 3) == ["started", "failed", "active"]
        failed = server_events(info["uuid"])[1]
        assert failed.payload["state"] == "pending_startup"

    def test_a_crashing_start_reports_failed_with_its_error_state(self) -> None:
        block = CommandServiceBlock(
            service_name=unique("crash"),
            command=[sys.executable, "-c", "import sys; sys.exit(3)"],
        )
        with pytest.raises(core.ServiceFailedError):
            serve(block)
        uuid = str(core.get_service(block.service_name, refresh=False).uuid)
        assert sequence(uuid, 2) == ["started", "failed"]
        assert server_events(uuid)[1].payload["state"] == "error"


class TestAfterTheRun:
    def test_a_watcher_service_reports_died_to_prefect(
        self, http_command: list[str], run_env: dict[str, str]
    ) -> None:
        """The flow ends; the service is SIGKILLed; the watcher (itself an outlive service,
        started with `outlive watch --service --prefect`) emits `outlive.service.died`."""
        block = CommandServiceBlock(service_name=unique("victim"), command=http_command)
        info = serve(block)
        watcher = subprocess.run(
            [
                sys.executable,
                "-m",
                "plugin_core.cli",
                "watch",
                "--service",
                "--prefect",
                "--period",
                "0.5",
            ],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert watcher.returncode == 0, watcher.stdout + watcher.stderr
        watch = core.get_service(core.watch_service([]).config.service_name)
        assert watch.status.state == core.ServiceState.ACTIVE, watch.log_tail(20)
        time.sleep(2.0)  # let the watcher take its baseline before the crash

        child = core.get_service(block.service_name).status.child_pid
        psutil.Process(child).kill()

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            died = [e for e in server_events(info["uuid"]) if e.event == "outlive.service.died"]
            if died:
                break
            time.sleep(0.5)
        assert died, (server_events(info["uuid"]), watch.log_tail(30))
        assert died[0].payload["origin"] == "watch" and died[0].payload["state"] == "error"
        assert died[0].resource.get("prefect.resource.name") == block.service_name


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prefect_restart_on_died.py"


def test_the_example_creates_an_automation_on_died(run_env: dict[str, str]) -> None:
    """`python examples/prefect_restart_on_died.py automate` against a real server: the
    Automation exists, triggers on outlive.service.died and runs the restart deployment."""
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("restart-outlive-service")
        deployment_id = client.create_deployment(flow_id=flow_id, name="on-died")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "automate"],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    automation_id = result.stdout.split()[-1]
    with get_client(sync_client=True) as client:
        automation = client.read_automation(automation_id)
    assert automation is not None
    assert automation.trigger.expect == {"outlive.service.died"}
    (action,) = automation.actions
    assert str(action.deployment_id) == str(deployment_id)
    assert "prefect.resource.name" in str(action.parameters)
