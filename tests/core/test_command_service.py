"""Command services as a user sees them: real processes, real sockets, real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from plugin_core import (
    CommandService,
    PortInUseError,
    RestartPolicy,
    ServiceFailedError,
    ServiceRegistry,
    ServiceState,
    StartTimeoutError,
    find_services,
    get_service,
    start_service,
    stop_service,
)
from plugin_core.processes import MARKER_ENV
from tests.conftest import http_get

pytestmark = pytest.mark.integration

PY = sys.executable
HTTP_SERVER = [PY, "-m", "http.server", "{port}", "--bind", "{host}"]


def web(name: str = "web", **config: object) -> CommandService:
    return CommandService.http(name, HTTP_SERVER, **config)  # type: ignore[arg-type]


def marked(uuid: str) -> list[psutil.Process]:
    from plugin_core.processes import marked_processes

    return marked_processes(uuid)


class TestStartAndStop:
    def test_start_serves_http_and_is_recorded_active(self) -> None:
        """start() returns only when the server answers; the registry says ACTIVE with its URL."""
        service = web()
        service.start(timeout=20)
        url = service.get_prediction_url()
        assert url is not None and http_get(url)[0] == 200
        stored = get_service("web")
        assert stored.status.state == ServiceState.ACTIVE
        assert stored.get_prediction_url() == url

    def test_same_config_again_reuses_the_running_service(self) -> None:
        first = web()
        first.start(timeout=20)
        second = web()
        second.start(timeout=20)
        assert second.uuid == first.uuid
        assert len(find_services(name="web")) == 1
        assert second.status.pid == first.status.pid

    def test_changed_config_restarts_or_is_refused(self) -> None:
        from plugin_core import ServiceConfigConflictError

        web().start(timeout=20)
        changed = web(env={"MODE": "two"})
        with pytest.raises(ServiceConfigConflictError):
            start_service(changed, on_change="fail", timeout=20)
        old_pid = get_service("web").status.pid
        replaced = start_service(web(env={"MODE": "two"}), on_change="restart", timeout=20)
        assert replaced.status.pid != old_pid
        assert replaced.config.env == {"MODE": "two"}
        assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE

    def test_stop_leaves_no_process_and_removes_pid_file(self) -> None:
        service = web()
        service.start(timeout=20)
        pid_file = Path(service.status.pid_file or "")
        assert pid_file.exists()
        uuid = str(service.uuid)
        stop_service("web", timeout=5)
        assert get_service("web").status.state == ServiceState.INACTIVE
        assert marked(uuid) == []
        assert not pid_file.exists()

    def test_stop_kills_a_double_forked_grandchild(self, tmp_path: Path) -> None:
        """A service that double-forks (and even calls setsid) leaves no survivor after stop."""
        script = tmp_path / "forker.py"
        script.write_text(textwrap.dedent(f"""
            import os, time, sys
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    open({str(tmp_path / 'grandchild.pid')!r}, 'w').write(str(os.getpid()))
                    while True: time.sleep(1)
                os._exit(0)
            import http.server
            http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
        """))
        service = CommandService.http("forker", [PY, str(script), "{port}"])
        service.start(timeout=20)
        grandchild = int(_wait_for_file(tmp_path / "grandchild.pid"))
        assert psutil.pid_exists(grandchild)
        service.stop(timeout=3)
        assert not _alive(grandchild)
        assert marked(str(service.uuid)) == []

    def test_term_ignoring_service_is_killed_after_grace(self, tmp_path: Path) -> None:
        """SIGTERM, the grace period, then SIGKILL: stop returns shortly after the grace."""
        script = tmp_path / "stubborn.py"
        script.write_text(
            "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ignoring TERM', flush=True)\nwhile True: time.sleep(1)\n"
        )
        service = CommandService.http("stubborn", [PY, str(script)], stop_grace_period=1.0)
        service.endpoint = None
        service.start(timeout=20)
        began = time.monotonic()
        service.stop(timeout=1.0)
        assert time.monotonic() - began < 4.0
        assert marked(str(service.uuid)) == []


class TestOutlivesTheCaller:
    def test_survives_sigkill_of_the_starting_process_group(self, tmp_path: Path) -> None:
        """A service started by a process whose whole group is SIGKILLed keeps serving."""
        script = tmp_path / "starter.py"
        script.write_text(textwrap.dedent(f"""
            import sys, time
            from plugin_core import CommandService
            svc = CommandService.http("survivor", {HTTP_SERVER!r})
            svc.start(timeout=20)
            print(svc.get_prediction_url(), flush=True)
            time.sleep(600)
        """))
        starter = subprocess.Popen(
            [PY, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        assert starter.stdout is not None
        url = starter.stdout.readline().strip()
        os.killpg(starter.pid, signal.SIGKILL)
        starter.wait()
        assert http_get(url)[0] == 200
        assert get_service("survivor").status.state == ServiceState.ACTIVE
        service = get_service("survivor")
        holder = psutil.Process(service.status.supervisor_pid)
        assert holder.cwd() == service.status.runtime_path
        assert all(f.fd > 2 or f.path != "" for f in holder.open_files())

    def test_service_holds_no_descriptor_of_the_caller(self, tmp_path: Path) -> None:
        """stdin is /dev/null and no pipe of the starter is inherited (a worker would wait on it)."""
        read_end, write_end = os.pipe()
        os.set_inheritable(write_end, True)
        try:
            service = web("fds")
            service.start(timeout=20)
            child = psutil.Process(service.status.supervisor_pid).children()[0]
            for proc in (psutil.Process(service.status.supervisor_pid), child):
                fd_targets = {os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")}
                our_pipe = os.readlink(f"/proc/self/fd/{write_end}")
                assert our_pipe not in fd_targets
                assert os.readlink(f"/proc/{proc.pid}/fd/0") == "/dev/null"
        finally:
            os.close(read_end)
            os.close(write_end)

    def test_orchestrator_context_is_dropped_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "dag")
        monkeypatch.setenv("PREFECT__FLOW_RUN_ID", "run")
        service = web("env")
        service.start(timeout=20)
        environ = psutil.Process(service.status.supervisor_pid).children()[0].environ()
        assert "AIRFLOW_CTX_DAG_ID" not in environ and "PREFECT__FLOW_RUN_ID" not in environ
        assert environ[MARKER_ENV] == str(service.uuid)


class TestFailures:
    def test_crash_reports_error_with_exit_code_and_log_tail(self) -> None:
        service = CommandService.http(
            "crash", [PY, "-c", "import sys; print('loading weights', flush=True); sys.exit(7)"]
        )
        with pytest.raises(ServiceFailedError) as info:
            service.start(timeout=20)
        assert info.value.exit_code == 7
        assert any("loading weights" in line for line in info.value.log_tail)
        stored = get_service("crash")
        assert stored.status.state == ServiceState.ERROR
        assert "exit code 7" in stored.status.last_error

    def test_start_timeout_is_honoured_and_never_active(self) -> None:
        """A process that never listens: start gives up at its timeout and the state is not ACTIVE."""
        service = CommandService.http("silent", [PY, "-c", "import time; print('warming up', flush=True); time.sleep(60)"])
        began = time.monotonic()
        with pytest.raises(StartTimeoutError) as info:
            service.start(timeout=1.0)
        # Honoured: it gives up long before the process would (60 s); speed is bench/'s job.
        assert time.monotonic() - began < 30
        assert "connection refused" in info.value.last_probe
        assert any("warming up" in line for line in info.value.log_tail)
        assert get_service("silent").status.state in (ServiceState.PENDING_STARTUP, ServiceState.ERROR)

    def test_missing_program_is_a_clear_error(self) -> None:
        from plugin_core import DaemonSpawnError

        with pytest.raises(DaemonSpawnError, match="not found on PATH"):
            CommandService.http("ghost", ["no-such-program-xyz", "{port}"]).start(timeout=5)

    def test_taken_port_without_allocation_names_the_port(self) -> None:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            service = CommandService.http("clash", HTTP_SERVER, port=port)
            assert service.endpoint is not None
            service.endpoint.config.allocate_port = False
            with pytest.raises(PortInUseError, match=str(port)):
                service.start(timeout=5)

    def test_taken_preferred_port_is_replaced_when_allocating(self) -> None:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            service = CommandService.http("moved", HTTP_SERVER, port=port)
            service.start(timeout=20)
            assert service.endpoint is not None and service.endpoint.status.port != port

    def test_restart_policy_restarts_then_gives_up(self, tmp_path: Path) -> None:
        """on-failure restarts with backoff; past max_restarts the state is ERROR with the reason."""
        counter = tmp_path / "runs"
        script = f"open({str(counter)!r}, 'a').write('x'); import sys; sys.exit(1)"
        service = CommandService.http(
            "flaky",
            [PY, "-c", script],
            restart=RestartPolicy(mode="on-failure", max_restarts=2, backoff_base=0.05, backoff_cap=0.1),
        )
        with pytest.raises(ServiceFailedError) as info:
            service.start(timeout=20)
        assert counter.read_text() == "xxx"
        assert "gave up after 2 restarts" in str(info.value)

    def test_restart_policy_brings_a_killed_service_back(self) -> None:
        service = web("phoenix", restart=RestartPolicy(mode="always", backoff_base=0.05))
        service.start(timeout=20)
        child = psutil.Process(service.status.supervisor_pid).children()[0]
        child.kill()
        child.wait(5)
        back = _wait_for(lambda: get_service("phoenix").status.restarts >= 1 and get_service("phoenix").status.state == ServiceState.ACTIVE)
        assert back
        assert http_get(get_service("phoenix").get_prediction_url() or "")[0] == 200

    def test_burst_limit_ends_in_error(self) -> None:
        service = CommandService.http(
            "burst", [PY, "-c", "raise SystemExit(2)"],
            restart=RestartPolicy(mode="always", max_restarts=None, backoff_base=0.0, burst_limit=3, burst_window=30),
        )
        with pytest.raises(ServiceFailedError, match="within 30s"):
            service.start(timeout=20)

    def test_killed_from_outside_reports_error(self) -> None:
        service = web("victim")
        service.start(timeout=20)
        psutil.Process(service.status.supervisor_pid).children()[0].kill()
        assert _wait_for(lambda: get_service("victim").status.state == ServiceState.ERROR)
        assert "SIGKILL" in get_service("victim").status.last_error


class TestIdentity:
    def test_pid_file_of_an_unrelated_process_is_never_active_nor_signalled(self) -> None:
        """A stale record whose pid now belongs to someone else is ERROR, and that process lives."""
        service = web("stale")
        service.start(timeout=20)
        stop_service("stale")
        bystander = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"])
        try:
            record = get_service("stale", refresh=False)
            record.status.supervisor_pid = bystander.pid  # as if the pid had been reused
            record.status.supervisor_token = "12345"
            record.admin_state = ServiceState.ACTIVE
            ServiceRegistry().save(record)
            Path(record.status.pid_file or "").write_text(str(bystander.pid))
            seen = get_service("stale")
            assert seen.status.state != ServiceState.ACTIVE
            stop_service("stale", timeout=1)
            assert bystander.poll() is None
        finally:
            bystander.kill()
            bystander.wait()


class TestConcurrency:
    def test_thirty_concurrent_starts_of_one_name_make_one_instance(self, tmp_path: Path) -> None:
        script = tmp_path / "racer.py"
        script.write_text(textwrap.dedent(f"""
            from plugin_core import CommandService
            svc = CommandService.http("single", {HTTP_SERVER!r})
            svc.start(timeout=60)
            print(svc.uuid, svc.status.supervisor_pid, svc.get_prediction_url())
        """))
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        racers = [subprocess.Popen([PY, str(script)], stdout=subprocess.PIPE, text=True, env=env) for _ in range(30)]
        outputs = {r.communicate(timeout=240)[0].strip() for r in racers}
        assert all(r.returncode == 0 for r in racers)
        assert len(outputs) == 1
        uuid = outputs.pop().split()[0]
        assert len(find_services(name="single")) == 1
        assert len([p for p in marked(uuid) if p.name().startswith("python")]) == 2  # supervisor + server

    def test_twenty_services_at_once_get_twenty_ports(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        def launch(index: int) -> str:
            service = web(f"many-{index}")
            service.start(timeout=60)
            return service.get_prediction_url() or ""

        with ThreadPoolExecutor(max_workers=20) as pool:
            urls = list(pool.map(launch, range(20)))
        assert len(set(urls)) == 20
        assert all(http_get(url)[0] == 200 for url in urls)
        assert all(s.status.state == ServiceState.ACTIVE for s in find_services())


def _wait_for(condition, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _wait_for_file(path: Path, timeout: float = 10.0) -> str:
    assert _wait_for(lambda: path.exists() and path.read_text() != "", timeout)
    return path.read_text()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class TestDeadlines:
    def test_timeout_holds_against_a_server_that_never_answers(self, tmp_path: Path) -> None:
        """A port that accepts but never replies cannot stretch start(timeout) by a probe timeout."""
        script = tmp_path / "mute.py"
        script.write_text(
            "import socket, sys, time\ns = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
            "conns = []\nwhile True: conns.append(s.accept())\n"
        )
        service = CommandService.http("mute", [PY, str(script), "{port}"])
        began = time.monotonic()
        with pytest.raises(StartTimeoutError, match="did not become active within 1s"):
            service.start(timeout=1.0)
        assert time.monotonic() - began < 1.0 + 0.2 + 0.5  # 0.5 s: launch and registry writes


class TestUpdateAndPrune:
    def test_update_restarts_a_running_service_with_the_new_config(self) -> None:
        from plugin_core import update_service

        web("upd").start(timeout=20)
        before = get_service("upd")
        new_config = before.config.model_copy(update={"env": {"VERSION": "2"}})
        after = update_service("upd", new_config, timeout=20)
        assert after.uuid == before.uuid
        assert after.status.supervisor_pid != before.status.supervisor_pid
        assert after.status.pid is not None
        assert psutil.Process(after.status.pid).environ()["VERSION"] == "2"
        assert http_get(after.get_prediction_url() or "")[0] == 200

    def test_update_of_a_stopped_service_only_records_it(self) -> None:
        from plugin_core import update_service

        web("idle").start(timeout=20)
        stop_service("idle")
        config = get_service("idle").config.model_copy(update={"description": "v2"})
        updated = update_service("idle", config)
        assert updated.status.state == ServiceState.INACTIVE
        assert get_service("idle").config.description == "v2"

    def test_prune_removes_stopped_and_failed_records_only(self) -> None:
        from plugin_core import prune_services

        web("keep").start(timeout=20)
        web("gone").start(timeout=20)
        stop_service("gone")
        with pytest.raises(ServiceFailedError):
            CommandService.http("broken", [PY, "-c", "raise SystemExit(4)"]).start(timeout=10)
        report = prune_services()
        assert sorted(report.deleted) == ["broken", "gone"]
        assert [s.config.service_name for s in find_services()] == ["keep"]

    def test_poll_service_status_agrees_with_admin_state(self) -> None:
        service = web("poll")
        service.start(timeout=20)
        assert service.poll_service_status(timeout=5) is True
        service.stop()
        assert service.poll_service_status(timeout=5) is True
        assert service.is_stopped


def test_update_of_a_stopped_service_keeps_its_logs_and_files() -> None:
    """The observed status (runtime dir, logs) survives an update, and delete cleans it up."""
    from plugin_core import delete_service, update_service

    service = web("kept")
    service.start(timeout=20)
    http_get(service.get_prediction_url() or "")
    stop_service("kept")
    runtime = Path(get_service("kept").status.runtime_path or "")
    update_service("kept", get_service("kept").config.model_copy(update={"description": "v2"}))
    assert get_service("kept").log_tail(5) != []
    delete_service("kept")
    assert not runtime.exists()


def test_missing_ok_makes_stop_and_delete_of_an_unknown_name_a_no_op() -> None:
    """A clean-up step that runs twice: the second stop and delete find nothing and say so
    with None; without ``missing_ok`` the name is reported."""
    from plugin_core import ServiceNotFoundError, delete_service

    service = web("twice")
    service.start(timeout=20)
    deleted = delete_service("twice", missing_ok=True)
    assert deleted is not None and deleted.uuid == service.uuid
    assert stop_service("twice", missing_ok=True) is None
    assert delete_service("twice", missing_ok=True) is None
    with pytest.raises(ServiceNotFoundError, match="twice"):
        stop_service("twice")
    with pytest.raises(ServiceNotFoundError, match="twice"):
        delete_service("twice")


def test_stop_does_not_wait_out_the_grace_when_sigterm_works() -> None:
    service = web("quick")
    service.start(timeout=20)
    began = time.monotonic()
    stop_service("quick")
    assert time.monotonic() - began < 5.0  # the 10 s grace period was not waited out
