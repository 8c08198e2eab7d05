"""LocalDaemonService written the ZenML way: subclass, implement run(), start()."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import psutil
import pytest

from plugin_core import (
    LocalDaemonServiceConfig,
    ServiceFailedError,
    ServiceState,
    get_service,
    http_endpoint,
)
from plugin_core.processes import marked_processes
from tests.conftest import http_get
from tests.core.daemon_services import (
    CounterConfig,
    CrashingService,
    ExitingService,
    HTTPService,
    LoopService,
)
from tests.core.fork_services import running_thread, single_threaded

pytestmark = pytest.mark.integration


def test_run_loop_starts_reports_active_and_stops_on_stop() -> None:
    """A plain while-loop run() is ACTIVE after start and ends on stop(): SIGTERM ends it."""
    service = LoopService(config=CounterConfig(name="loop", greeting="bonjour"))
    service.start(timeout=20)
    assert service.status.state == ServiceState.ACTIVE
    assert _wait(lambda: any("bonjour from pid" in line for line in service.get_logs(tail=5)))
    uuid = str(service.uuid)
    assert len(marked_processes(uuid)) == 2
    began = time.monotonic()
    service.stop(timeout=5)
    assert time.monotonic() - began < 3, "SIGTERM must end run(), not the SIGKILL after the grace"
    assert marked_processes(uuid) == []
    assert service.is_stopped


def test_http_daemon_serves_from_run() -> None:
    service = HTTPService(config=LocalDaemonServiceConfig(name="daemon-web"), endpoint=http_endpoint())
    service.start(timeout=30)
    url = service.get_prediction_url()
    assert url is not None and http_get(url)[0] == 200
    assert get_service("daemon-web").is_running


@pytest.mark.parametrize("threaded", [False, True], ids=["forked", "execd"])
def test_daemon_imports_no_orchestrator(threaded: bool) -> None:
    """The daemon process loads only plugin_core and the service module, never prefect or
    airflow: forked from a single-threaded starter that loaded neither, or exec'd as the
    daemon entrypoint (a starter with a second thread is not forked)."""
    service = LoopService(config=CounterConfig(name="lean"))
    with running_thread() if threaded else single_threaded():
        service.start(timeout=20)
    assert service.status.pid is not None
    daemon = psutil.Process(service.status.pid)  # as in ZenML: the process that runs run()
    assert daemon.ppid() == service.status.supervisor_pid
    maps = Path(f"/proc/{daemon.pid}/maps").read_text()
    assert "prefect" not in maps and "airflow" not in maps
    forked = psutil.Process().cmdline()[1:3]  # a forked daemon shows its starter's
    assert daemon.cmdline()[1:3] == (["-m", "plugin_core.backends._daemon"] if threaded else forked)


def test_crash_is_recorded_with_its_reason() -> None:
    service = CrashingService(config=LocalDaemonServiceConfig(name="crasher", startsecs=60))
    with pytest.raises(ServiceFailedError) as info:
        service.start(timeout=20)
    assert info.value.exit_code == 1
    assert any("model file not found" in line for line in info.value.log_tail)
    assert get_service("crasher").status.state == ServiceState.ERROR


def test_exit_code_is_reported() -> None:
    with pytest.raises(ServiceFailedError, match="exit code 3"):
        ExitingService(config=LocalDaemonServiceConfig(name="exiter", startsecs=60)).start(timeout=60)


def test_runtime_files_are_private(outlive_home: Path) -> None:
    service = LoopService(config=CounterConfig(name="private"))
    service.start(timeout=20)
    runtime = Path(service.status.runtime_path or "")
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    for name in ("service.json", "service.log", "state.json", "supervisor.json"):
        assert stat.S_IMODE((runtime / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((outlive_home / "registry.db").stat().st_mode) == 0o600


def test_root_runtime_path_and_singleton(tmp_path: Path) -> None:
    service = LoopService(
        config=CounterConfig(name="single", root_runtime_path=str(tmp_path / "rt"), singleton=True)
    )
    service.start(timeout=20)
    assert service.status.runtime_path == str(tmp_path / "rt")
    assert (tmp_path / "rt" / "service.json").exists()


def test_silent_daemon_has_no_log_file() -> None:
    service = LoopService(config=CounterConfig(name="quiet", silent_daemon=True))
    service.start(timeout=20)
    assert service.status.log_file is None
    assert list(service.get_logs(tail=10)) == []
    assert not Path(service.status.runtime_path or "", "service.log").exists()


def test_blocking_runs_in_the_caller() -> None:
    """blocking=True calls run() in this process (here it raises at once, in our own stack),
    and the registry records the failure with its reason."""
    service = CrashingService(config=LocalDaemonServiceConfig(name="inline", blocking=True))
    with pytest.raises(RuntimeError, match="model file not found"):
        service.start()
    seen = get_service("inline")
    assert seen.status.state == ServiceState.ERROR
    assert "model file not found" in seen.status.last_error
    assert seen.status.exit_code == 1


def test_follow_streams_new_lines() -> None:
    service = LoopService(config=CounterConfig(name="follow"))
    service.start(timeout=20)
    lines = service.get_logs(follow=True, tail=1)
    first = next(iter(lines))
    assert "from pid" in first


def _wait(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
