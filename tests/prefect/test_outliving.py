"""A service started by a flow run outlives that run's process, as deployments run it.

A process worker runs each flow run as ``python -m prefect.engine`` in a new
session, in a temporary directory it deletes afterwards, with stdout and stderr
piped to itself; cancelling the run kills the whole process group. Most tests
here start the flow run as a script in exactly that way, so they can look
inside: the run's pipes reach EOF as soon as the run ends (the service holds
none of them), and the service keeps answering after the group is killed and
the directory is gone. One test goes through a real process worker and a real
cancellation, end to end.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import IO, Any

import psutil
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.flows import Flow
from prefect.states import Cancelling
from prefect.workers.process import ProcessWorker

import plugin_core as core
from prefect_ext import find_services, get_service_logs, stop_service, wait_for_service

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).with_name("flow_run_script.py")


class FlowRunProcess:
    """A flow run in its own process group with piped output, read by background threads."""

    def __init__(self, service_name: str, mode: str, run_dir: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), service_name, mode],
            cwd=run_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.pipe_inodes = {
            os.fstat(self.proc.stdout.fileno()).st_ino,
            os.fstat(self.proc.stderr.fileno()).st_ino,
        }
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put)),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append)),
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _pump(stream: IO[str], sink: Any) -> None:
        for line in stream:
            sink(line)

    def service_info(self, timeout: float = 120.0) -> dict[str, Any]:
        """The info the flow printed once its service started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            if line.startswith("SERVICE:"):
                info: dict[str, Any] = json.loads(line[len("SERVICE:") :])
                return info
        raise AssertionError(f"the flow run printed no service info:\n{''.join(self.stderr)}")

    def pipes_closed_within(self, seconds: float) -> bool:
        """True when both pipes reach EOF in time: nobody else holds their write ends."""
        deadline = time.monotonic() + seconds
        for reader in self.readers:
            reader.join(timeout=max(0.0, deadline - time.monotonic()))
        return not any(reader.is_alive() for reader in self.readers)


def service_processes(info: dict[str, Any]) -> list[psutil.Process]:
    """The service's supervisor and everything under it."""
    root = psutil.Process(info["supervisor_pid"])
    return [root, *root.children(recursive=True)]


def pipe_inodes_held(proc: psutil.Process) -> set[int]:
    """Inodes of the pipes among a process's open file descriptors (psutil lists no pipes)."""
    inodes = set()
    fd_dir = f"/proc/{proc.pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("pipe:["):
            inodes.add(int(target[len("pipe:[") : -1]))
    return inodes


def answers(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        status: int = response.status
        return status


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """The flow run's temporary working directory, deleted after the run as a worker does."""
    path = tmp_path / "flow-run-workdir"
    path.mkdir()
    return path


@pytest.mark.parametrize(
    "kill_signal", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"]
)
def test_service_survives_killing_the_flow_run_process_group(
    run_env: dict[str, str], run_dir: Path, kill_signal: signal.Signals
) -> None:
    """Killing a running flow run's process group (a cancellation) leaves its service ACTIVE."""
    name = f"survivor-{kill_signal.name.lower()}-{uuid.uuid4().hex[:6]}"
    worker_env = run_env | {"PREFECT__FLOW_RUN_ID": str(uuid.uuid4())}  # set by a worker
    run = FlowRunProcess(name, "hang", run_dir, worker_env)
    try:
        info = run.service_info()
        processes = service_processes(info)

        assert (
            pipe_inodes_held(psutil.Process(run.proc.pid)) & run.pipe_inodes
        )  # the check sees pipes
        for proc in processes:
            assert os.getsid(proc.pid) != run.proc.pid, (
                "the service must not share the run's session"
            )
            assert not Path(proc.cwd()).is_relative_to(run_dir), (
                "cwd must not be the run's temp dir"
            )
            assert not pipe_inodes_held(proc) & run.pipe_inodes, "the service holds the run's pipes"
            assert "PREFECT__FLOW_RUN_ID" not in proc.environ(), "run context leaked to the service"

        os.killpg(run.proc.pid, kill_signal)
        run.proc.wait(timeout=30)
        shutil.rmtree(run_dir)

        assert run.pipes_closed_within(10), "the run's output pipes stayed open after it died"
        service = core.get_service(name)
        assert service.status.state == core.ServiceState.ACTIVE
        assert answers(info["url"]) == 200
        assert all(proc.is_running() for proc in processes)
    finally:  # the root conftest stops the service
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)


def test_a_second_flow_finds_waits_for_reads_and_stops_the_service(
    run_env: dict[str, str], run_dir: Path
) -> None:
    """One flow run starts a service and ends; another finds it by name, waits, reads logs, stops it."""
    name = f"handover-{uuid.uuid4().hex[:6]}"
    run = FlowRunProcess(name, "exit", run_dir, run_env)
    try:
        info = run.service_info()
        assert run.proc.wait(timeout=120) == 0, "".join(run.stderr)
        assert run.pipes_closed_within(10), "the finished run's pipes are held open by the service"
        shutil.rmtree(run_dir)
        answers(info["url"] + "/?from=second-flow")

        @flow
        def second_flow() -> tuple[Any, ...]:
            found = find_services(name=name)
            waited = wait_for_service(name, timeout=30)
            logs = get_service_logs(name, tail=20)
            stopped = stop_service(name)
            return found, waited, logs, stopped

        found, waited, logs, stopped = second_flow()

        assert [service["uuid"] for service in found] == [info["uuid"]]
        assert waited["state"] == "active"
        assert any("GET /?from=second-flow" in line for line in logs["lines"])
        assert stopped["state"] == "inactive"
        with pytest.raises(OSError):
            answers(info["url"])
    finally:  # the root conftest stops the service
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)


def test_service_survives_a_cancelled_run_on_a_real_process_worker(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    """A deployment run by `prefect worker start` is cancelled; the worker finishes, the service lives."""
    suffix = uuid.uuid4().hex[:6]
    name, pool = f"worker-run-{suffix}", f"outlive-pool-{suffix}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(
                name=pool,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )
    deployment = Flow.from_source(
        source=str(SCRIPT.parent), entrypoint=f"{SCRIPT.name}:start_and_leave"
    ).deploy(
        name=f"leave-{suffix}",
        work_pool_name=pool,
        build=False,
        push=False,
        parameters={"service_name": name, "hang": True},
        print_next_steps=False,
        ignore_warnings=True,
    )
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run_from_deployment(deployment)
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--run-once"],
        env=run_env | {"PREFECT_WORKER_QUERY_SECONDS": "1"},
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        service = wait_until_registered_active(name, timeout=120, worker=worker)
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run.id, Cancelling(), force=True)
        output, _ = worker.communicate(timeout=120)  # hangs if the service kept the run's pipes

        with get_client(sync_client=True) as client:
            assert client.read_flow_run(flow_run.id).state_type.value == "CANCELLED", output
        assert core.get_service(name).status.state == core.ServiceState.ACTIVE
        assert answers(core.service_info(service)["url"]) == 200
    finally:  # the root conftest stops the service
        if worker.poll() is None:
            worker.kill()
            worker.communicate()


def wait_until_registered_active(
    name: str, timeout: float, worker: subprocess.Popen[str] | None = None
) -> core.BaseService:
    """The service once the flow run (in the worker's subprocess) has started it; a failure
    shows what the worker printed (it fails at once if the worker ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (worker is None or worker.poll() is None):
        with contextlib.suppress(core.ServiceNotFoundError):
            service = core.get_service(name)
            if service.status.state == core.ServiceState.ACTIVE:
                return service
        time.sleep(0.5)
    output = ""
    if worker is not None:
        if worker.poll() is None:
            worker.kill()
        output = worker.communicate()[0]
    raise AssertionError(
        f"the worker's flow run did not start {name!r} within {timeout} s; worker output:\n"
        f"{output[-4000:]}"
    )
