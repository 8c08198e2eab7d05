"""A workflow service started through the lifecycle: a detached daemon with a control plane."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from plugin_core import ServiceState, get_service, start_service, stop_service, wait_until
from plugin_core.workflow import TaskState, WorkflowService, WorkflowServiceConfig

pytestmark = pytest.mark.integration


def workflow_service(workflow: str, **settings: Any) -> WorkflowService:
    """A service for ``tests.workflow.flows:<workflow>`` with quick heartbeats."""
    settings.setdefault("heartbeat_interval", 0.2)
    config = WorkflowServiceConfig(
        name=f"wf-{workflow.lower()}", workflow=f"tests.workflow.flows:{workflow}", **settings
    )
    return WorkflowService(config=config)


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    """The core's waiting loop, for conditions the tests watch."""
    return wait_until(lambda: check() or None, timeout=timeout)


class TestDaemon:
    def test_started_service_is_active_and_registered(self) -> None:
        """start_service waits on /readyz; the replica is in the control plane; tasks run."""
        service = start_service(workflow_service("add"), timeout=30)
        assert service.status.state == ServiceState.ACTIVE
        assert service.healthcheck_url is not None and service.healthcheck_url.endswith("/readyz")
        with service.client() as client:
            assert client.run(a=20, b=22) == 42
        [replica] = service.replicas(alive=True)
        assert replica.url == service.base_url and replica.pid != os.getpid()
        assert get_service("wf-add").status.state == ServiceState.ACTIVE

    def test_clean_stop_deregisters(self) -> None:
        """Stopping drains the service and removes its replica row from the control plane."""
        service = start_service(workflow_service("echo"), timeout=30)
        assert len(service.replicas()) == 1
        stopped = stop_service(service)
        assert stopped.status.state == ServiceState.INACTIVE
        assert service.replicas() == []

    def test_session_state_survives_a_restart(self) -> None:
        """Session state lives in the registry database, not in the process."""
        service = start_service(workflow_service("count_visits"), timeout=30)
        with service.client() as client:
            assert [client.run(session_id="s1") for _ in range(2)] == [1, 2]
        stop_service(service)
        service = start_service(workflow_service("count_visits"), timeout=30)
        with service.client() as client:
            assert client.run(session_id="s1") == 3
        assert service.session_state("s1").state == {"visits": 3}

    def test_sigkilled_replica_is_seen_dead_by_its_missing_heartbeat(self) -> None:
        """A replica killed with SIGKILL cannot deregister; its stale heartbeat gives it away."""
        service = start_service(workflow_service("echo"), timeout=30)
        [replica] = service.replicas(alive=True)
        os.kill(replica.pid, signal.SIGKILL)
        dead = wait_for(lambda: service.replicas(alive=False), timeout=5)
        assert dead is not None and [r.replica_id for r in dead] == [replica.replica_id]
        assert service.replicas(alive=True) == []
        assert wait_for(lambda: get_service("wf-echo").status.state == ServiceState.ERROR)

    def test_accepted_tasks_survive_a_sigkill(self, tmp_path: Path) -> None:
        """Tasks accepted by the durable queue run after the service is killed and restarted."""
        log = tmp_path / "ran.log"
        settings = {"max_concurrent_tasks": 1, "env": {"WF_TEST_LOG": str(log)}}
        service = start_service(workflow_service("logged", **settings), timeout=30)
        with service.client() as client:
            ids = [client.submit({"index": i, "seconds": 0.3}) for i in range(6)]
            assert wait_for(lambda: client.get_task(ids[0]).state == TaskState.RUNNING)
        os.kill(service.replicas()[0].pid, signal.SIGKILL)
        assert wait_for(lambda: get_service("wf-logged").status.state == ServiceState.ERROR)
        started = time.monotonic()
        service = start_service(workflow_service("logged", **settings), timeout=30)
        with service.client() as client:
            records = [client.wait(task_id, timeout=20) for task_id in ids]
        assert [r.state for r in records] == [TaskState.SUCCEEDED] * 6
        assert [r.result["index"] for r in records] == list(range(6))
        assert time.monotonic() - started < 15
        ran = [line.split()[0] for line in log.read_text().splitlines()]
        assert set(ran) == set(ids)
