"""A stop that was asked for ends INACTIVE, and takes every process the service ever started.

Real supervisors, real signals, real process trees. The defects pinned here (issue 17):
a stop whose timeout is shorter than the grace period, a forced stop, or a supervisor
SIGKILLed during a stop used to end in ERROR ("processes are gone and left no exit
record"), the shortened grace was written into the saved config, and a grandchild that
double-forked and exec'd with an empty environment survived the stop.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from plugin_core import (
    CommandService,
    ServiceFailedError,
    ServiceState,
    get_service,
    stop_service,
)
from plugin_core.cli import app
from plugin_core.processes import MARKER_ENV, marked_processes
from tests.core.daemon_services import CounterConfig, LoopService, ReturningService

pytestmark = pytest.mark.integration

PY = sys.executable
TERM_IGNORER = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ignoring TERM', flush=True)\n"
    "while True: time.sleep(0.2)\n"
)


def stubborn(tmp_path: Path, name: str = "stubborn", grace: float = 10.0) -> CommandService:
    """A service that ignores SIGTERM, with a long grace period, and no endpoint."""
    script = tmp_path / f"{name}.py"
    script.write_text(TERM_IGNORER)
    service = CommandService.http(name, [PY, str(script)], stop_grace_period=grace, startsecs=0.2)
    service.endpoint = None
    return service


def saved_config(outlive_home: Path, name: str) -> dict[str, object]:
    """The config as the registry row holds it, read with sqlite3 (not through outlive)."""
    with sqlite3.connect(outlive_home / "registry.db") as db:
        (text,) = db.execute("select config from outlive_services where name = ?", (name,)).fetchone()
    return dict(json.loads(text))


def cli_state(name: str) -> str:
    result = CliRunner().invoke(app, ["status", name, "--json"])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["state"])


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(predicate: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


class TestRequestedStopIsInactive:
    def test_stop_timeout_shorter_than_the_grace_ends_inactive_and_saves_nothing(
        self, tmp_path: Path, outlive_home: Path
    ) -> None:
        """stop(timeout=2) of a TERM-ignoring service with grace 10: INACTIVE everywhere, in
        about 2 s (the timeout reached the supervisor), and the saved grace is still 10."""
        service = stubborn(tmp_path)
        service.start(timeout=20)
        child = service.status.child_pid
        assert child is not None and alive(child)
        began = time.monotonic()
        service.stop(timeout=2)
        took = time.monotonic() - began
        assert service.status.state == ServiceState.INACTIVE, service.status.last_error
        assert get_service("stubborn").status.state == ServiceState.INACTIVE
        assert cli_state("stubborn") == "inactive"
        assert not alive(child)
        assert 1.5 <= took < 6.5  # the 2 s timeout, not the 10 s grace (nor 2 + the 5 s margin)
        assert saved_config(outlive_home, "stubborn")["stop_grace_period"] == 10.0
        assert service.config.stop_grace_period == 10.0  # type: ignore[attr-defined]

    def test_forced_stop_of_a_daemon_ends_inactive(self) -> None:
        """stop(force=True) of a ZenML-style daemon: INACTIVE, not ERROR."""
        service = LoopService(config=CounterConfig(name="looper", stop_grace_period=10))
        service.start(timeout=20)
        service.stop(force=True)
        assert service.status.state == ServiceState.INACTIVE, service.status.last_error
        assert get_service("looper").status.state == ServiceState.INACTIVE
        assert cli_state("looper") == "inactive"
        assert marked_processes(str(service.uuid)) == []

    def test_stop_timeout_zero_ends_inactive(self, tmp_path: Path) -> None:
        service = stubborn(tmp_path, "zero")
        service.start(timeout=20)
        stop_service("zero", timeout=0)
        assert get_service("zero").status.state == ServiceState.INACTIVE

    def test_cli_stop_with_a_short_timeout_is_inactive(self, tmp_path: Path) -> None:
        service = stubborn(tmp_path, "clistop")
        service.start(timeout=20)
        result = CliRunner().invoke(app, ["stop", "clistop", "--timeout", "1"])
        assert result.exit_code == 0, result.output
        assert "INACTIVE" in result.output
        assert cli_state("clistop") == "inactive"

    def test_supervisor_sigkilled_during_the_stop_still_ends_inactive(self, tmp_path: Path) -> None:
        """The supervisor is SIGKILLed while it waits out the grace of a stop: the stop still
        completes (the service is killed by the backstop) and the outcome is INACTIVE."""
        service = stubborn(tmp_path, "victim")
        service.start(timeout=20)
        supervisor, child = service.status.supervisor_pid, service.status.child_pid  # type: ignore[attr-defined]
        assert supervisor is not None and child is not None
        state_file = Path(service.status.runtime_path) / "state.json"  # type: ignore[attr-defined]
        stopper = threading.Thread(target=stop_service, args=("victim",), kwargs={"timeout": 8})
        stopper.start()
        assert wait_for(lambda: json.loads(state_file.read_text()).get("phase") == "stopping")
        os.kill(supervisor, signal.SIGKILL)
        stopper.join(30)
        assert not stopper.is_alive()
        assert not alive(child)
        stored = get_service("victim")
        assert stored.status.state == ServiceState.INACTIVE, stored.status.last_error
        assert cli_state("victim") == "inactive"

    def test_supervisor_killed_before_the_stop_is_recorded_ends_inactive(
        self, tmp_path: Path
    ) -> None:
        """Even a supervisor that died before it could record anything: the stopper wrote the
        request first, so the judgement reads a stop, not a crash."""
        service = stubborn(tmp_path, "early")
        service.start(timeout=20)
        supervisor = service.status.supervisor_pid  # type: ignore[attr-defined]
        assert supervisor is not None
        os.kill(supervisor, signal.SIGSTOP)  # it cannot act on the SIGTERM it will get ...
        killer = threading.Timer(0.5, os.kill, (supervisor, signal.SIGKILL))  # ... and dies
        killer.start()
        stop_service("early", timeout=1)
        killer.join()
        assert get_service("early").status.state == ServiceState.INACTIVE


    def test_stopper_sigkilled_mid_stop_still_ends_inactive(self, tmp_path: Path) -> None:
        """The process that asked for the stop is SIGKILLed while the stop runs: the supervisor
        finishes it on its own (this stop's grace), and the outcome is INACTIVE."""
        import subprocess

        service = stubborn(tmp_path, "orphaned-stop")
        service.start(timeout=20)
        child = service.status.child_pid
        assert child is not None
        state_file = Path(service.status.runtime_path) / "state.json"  # type: ignore[attr-defined]
        repo = str(Path(__file__).resolve().parents[2])
        stopper = subprocess.Popen(
            [PY, "-c", "from plugin_core import stop_service; stop_service('orphaned-stop', timeout=2)"],
            env={**os.environ, "PYTHONPATH": repo},
        )
        try:
            assert wait_for(lambda: json.loads(state_file.read_text()).get("phase") == "stopping")
        finally:
            stopper.kill()
            stopper.wait()
        assert wait_for(lambda: not alive(child), timeout=15)
        assert wait_for(lambda: get_service("orphaned-stop").status.state == ServiceState.INACTIVE)
        assert saved_config_grace(service) == 10.0


def saved_config_grace(service: CommandService) -> float:
    from plugin_core import ServiceRegistry

    return float(json.loads(ServiceRegistry().get_record(str(service.uuid)).config)["stop_grace_period"])


class TestRunThatReturns:
    def test_run_returning_normally_leaves_the_service_inactive_with_its_exit_code(self) -> None:
        """A daemon whose run() returns after its work: ACTIVE while it works, then INACTIVE
        with exit code 0 (not ERROR)."""
        config = CounterConfig(name="returner", description="1.5", startsecs=0.3)
        service = ReturningService(config=config)
        service.start(timeout=20)
        assert wait_for(lambda: get_service("returner").status.state != ServiceState.ACTIVE)
        stored = get_service("returner")
        assert stored.status.state == ServiceState.INACTIVE, stored.status.last_error
        assert stored.status.exit_code == 0
        assert cli_state("returner") == "inactive"

    def test_start_of_a_run_that_returns_at_once_says_it_ended(self) -> None:
        """Returning before it was ever ACTIVE ends the start at once, with a clear reason."""
        service = ReturningService(config=CounterConfig(name="instant", startsecs=5))
        with pytest.raises(ServiceFailedError, match="ended before it became active") as info:
            service.start(timeout=60)
        assert info.value.exit_code == 0
        assert get_service("instant").status.state == ServiceState.INACTIVE


ESCAPER = textwrap.dedent("""
    import os, sys, time
    pids = sys.argv[1]
    for _ in range(int(sys.argv[2])):
        if os.fork() == 0:                  # child ...
            os.setsid()                     # ... leaves the session and group
            grandchild = os.fork()
            if grandchild == 0:             # grandchild: drops the environment (and the marker)
                os.execve("/bin/sleep", ["sleep", "600"], {})
            with open(pids, "a") as handle:
                handle.write(f"{grandchild}\\n")
            os._exit(0)                     # ... and orphans it
    print("escapees launched", flush=True)
    while True:
        time.sleep(0.2)
""")


def escaper(tmp_path: Path, name: str, trees: int, **config: object) -> tuple[CommandService, Path]:
    script, pids = tmp_path / "escaper.py", tmp_path / f"{name}.pids"
    script.write_text(ESCAPER)
    service = CommandService.http(name, [PY, str(script), str(pids), str(trees)], **config)  # type: ignore[arg-type]
    service.endpoint = None
    return service, pids


def escapees(pids: Path, count: int) -> list[int]:
    assert wait_for(lambda: pids.exists() and len(pids.read_text().split()) == count)
    return [int(pid) for pid in pids.read_text().split()]


class TestSubreaper:
    def test_stop_takes_fifty_double_forked_empty_environment_escapees(self, tmp_path: Path) -> None:
        """50 grandchildren that setsid, double-fork and execve with an empty environment are
        reparented to the supervisor (not init) and none survives the stop."""
        service, pids = escaper(tmp_path, "escaper", 50, startsecs=0.2)
        service.start(timeout=30)
        found = escapees(pids, 50)
        supervisor = service.status.supervisor_pid  # type: ignore[attr-defined]
        assert wait_for(lambda: all(psutil.Process(pid).ppid() == supervisor for pid in found))
        for pid in found:
            process = psutil.Process(pid)
            assert process.name() == "sleep"
            assert MARKER_ENV not in process.environ()  # the marker cannot find these
        service.stop(timeout=5)
        survivors = [pid for pid in found if alive(pid)]
        assert survivors == []
        assert get_service("escaper").status.state == ServiceState.INACTIVE

    def test_escapees_of_a_service_that_exits_are_taken_down_with_it(self, tmp_path: Path) -> None:
        """When the service's own process ends, what it left behind goes too (as systemd does)."""
        script = tmp_path / "leaver.py"
        script.write_text(textwrap.dedent("""
            import os, sys
            if os.fork() == 0:
                os.setsid()
                grandchild = os.fork()
                if grandchild == 0:
                    os.execve("/bin/sleep", ["sleep", "600"], {})
                open(sys.argv[1], "w").write(str(grandchild))
                os._exit(0)
            os.wait()
            sys.exit(4)
        """))
        pid_file = tmp_path / "leaver.pid"
        service = CommandService.http("leaver", [PY, str(script), str(pid_file)], startsecs=5)
        service.endpoint = None
        with pytest.raises(ServiceFailedError, match="exit code 4"):
            service.start(timeout=30)
        assert wait_for(lambda: pid_file.exists() and pid_file.read_text())
        grandchild = int(pid_file.read_text())
        assert wait_for(lambda: not alive(grandchild))


def test_default_stop_grace_is_used_when_no_timeout_is_shorter(tmp_path: Path) -> None:
    """A plain SIGTERM to the supervisor (no stop request) uses the configured grace."""
    service = stubborn(tmp_path, "graceful", grace=1.0)
    service.start(timeout=20)
    child = service.status.child_pid
    supervisor = service.status.supervisor_pid  # type: ignore[attr-defined]
    assert child is not None and supervisor is not None
    os.kill(supervisor, signal.SIGTERM)
    assert wait_for(lambda: not alive(child), timeout=10)
    assert wait_for(lambda: get_service("graceful").status.state == ServiceState.INACTIVE)


def test_stopping_a_stopped_service_stays_inactive(tmp_path: Path) -> None:
    service = stubborn(tmp_path, "twice", grace=1.0)
    service.start(timeout=20)
    service.stop(timeout=1)
    service.stop(timeout=1)
    assert get_service("twice").status.state == ServiceState.INACTIVE


def test_a_supervisor_whose_runtime_folder_was_deleted_still_stops_the_whole_tree(
    tmp_path: Path,
) -> None:
    """Its state file can no longer be written, yet SIGTERM still takes the service down
    (it used to die on the first write and leave the service running, reparented to init)."""
    import shutil

    service = stubborn(tmp_path, "orphaned-dir", grace=1.0)
    service.start(timeout=20)
    supervisor, child = service.status.supervisor_pid, service.status.child_pid
    assert supervisor is not None and child is not None and alive(child)
    runtime = Path(service.status.runtime_path or "")
    assert runtime.is_dir()
    shutil.rmtree(runtime)
    os.kill(supervisor, signal.SIGTERM)
    assert wait_for(lambda: not alive(child), timeout=10), "the service outlived its supervisor"
    assert wait_for(lambda: not alive(supervisor), timeout=5)
