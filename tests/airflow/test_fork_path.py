"""Airflow killing a task's process group while it runs, after the task started its service.

A deployment forks each task runner into its own process group under a supervisor that
talks to the api-server; a task marked failed from the UI is killed with ``killpg`` at the
supervisor's next heartbeat (HTTP 409). Here the LocalExecutor runs the fork DAG against the
session's api-server (see conftest), and the test marks the hanging task failed the way the
UI does: it sets the task instance's state in the metadata DB.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.airflow.conftest import SKIP_REASON

pytest.importorskip("airflow.sdk", reason=SKIP_REASON)

from tests.airflow.conftest import AirflowEnv, http_status, wait_for

pytestmark = pytest.mark.integration

DAG_ID = "outlive_test_fork"


@dataclass
class ForkRun:
    """What the test observed around the kill."""

    output: str
    runner_exit_code: int
    kill_to_exit_seconds: float
    task_fds: set[str]  # pipe/socket inodes held by the task runner and its supervisor
    service_fds: set[str]  # the same for every process of the service's session


def _ipc_inodes(processes: list[psutil.Process]) -> set[str]:
    """Pipe and socket inodes open in these processes (what could keep a supervisor waiting)."""
    inodes: set[str] = set()
    for process in processes:
        fd_dir = Path(f"/proc/{process.pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith(("pipe:", "socket:")):
                inodes.add(target)
    return inodes


def _session_of(pid: int) -> list[psutil.Process]:
    sid = os.getsid(pid)
    return [p for p in psutil.process_iter() if _sid(p.pid) == sid]


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def _mark_failed(db: Path, task_id: str) -> None:
    """What the UI's "mark failed" does to a running task instance: set its state."""
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute(
            "UPDATE task_instance SET state='failed' WHERE dag_id=? AND task_id=?",
            (DAG_ID, task_id),
        )


@pytest.fixture(scope="module")
def fork_run(airflow_servers: AirflowEnv) -> ForkRun:
    """Run the fork DAG; once its second task hangs after starting a service, mark it failed."""
    airflow_env = airflow_servers
    results = airflow_env.root / "fork.json"
    log_path = airflow_env.root / "logs" / "fork-run.log"
    with log_path.open("w") as log:
        runner = subprocess.Popen(
            airflow_env.run_dags_command(results, DAG_ID),
            env=airflow_env.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_for((airflow_env.markers / "hanging.json").exists, 120, "the hanging task")
            runner_pid = airflow_env.sql(
                "SELECT pid FROM task_instance WHERE dag_id=? AND task_id='start_and_hang'", DAG_ID
            )[0][0]
            task = psutil.Process(runner_pid)
            task_fds = _ipc_inodes([task, task.parent()])
            service_pid = json.loads((airflow_env.markers / "hanging.json").read_text())["pid"]
            service_fds = _ipc_inodes(_session_of(service_pid))
            _mark_failed(airflow_env.db, "start_and_hang")
            killed_at = time.monotonic()
            code = runner.wait(timeout=90)
        finally:
            if runner.poll() is None:
                runner.kill()
    return ForkRun(
        output=log_path.read_text(),
        runner_exit_code=code,
        kill_to_exit_seconds=time.monotonic() - killed_at,
        task_fds=task_fds,
        service_fds=service_fds,
    )


def _service(airflow_env: AirflowEnv, name: str):  # type: ignore[no-untyped-def]
    from plugin_core import ServiceRegistry, get_service

    return get_service(name, registry=ServiceRegistry(airflow_env.registry_url), refresh=True)


class TestForkPath:
    def test_tasks_ran_through_the_supervisor_and_the_kill_happened(
        self, fork_run: ForkRun
    ) -> None:
        """The run used forked task runners, and Airflow killed the hanging one (heartbeat 409)."""
        assert fork_run.runner_exit_code == 0, fork_run.output[-5000:]
        assert "Server indicated the task shouldn't be running anymore" in fork_run.output
        assert "final_state=success" in fork_run.output  # start_fast, reported by its supervisor

    def test_no_slot_is_held_by_a_service(self, fork_run: ForkRun) -> None:
        """Supervisors finish with their task: none waits for sockets a service kept open.

        Airflow would wait ``[workers] socket_cleanup_timeout`` (60 s) for a child that
        inherited the task's stdout/stderr/request sockets.
        """
        assert "Process exited with open sockets" not in fork_run.output
        finished = re.findall(
            r"(?:Workload|Task) finished\s+\[supervisor\] duration=([0-9.]+)", fork_run.output
        )
        assert len(finished) == 2, fork_run.output[-5000:]
        assert max(float(seconds) for seconds in finished) < 30
        assert fork_run.kill_to_exit_seconds < 30

    def test_service_holds_no_pipe_or_socket_of_the_task(self, fork_run: ForkRun) -> None:
        """The started service shares no pipe or socket with the task runner or its supervisor."""
        assert fork_run.task_fds, "could not read the task's descriptors"
        assert not (fork_run.task_fds & fork_run.service_fds)

    @pytest.mark.parametrize("name", ["fork-web", "fork-hang"])
    def test_services_survive_their_task(
        self, fork_run: ForkRun, airflow_env: AirflowEnv, name: str
    ) -> None:
        """Both services, including the one whose task was killed with its group, still serve."""
        service = _service(airflow_env, name)
        assert service.status.state.value == "active"
        assert http_status(service.endpoint.status.uri) == 200
