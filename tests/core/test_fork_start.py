"""A ``run()`` daemon forked from a single-threaded starter behaves as the exec'd one does.

Real processes throughout. Which way a daemon was launched is read from the supervisor's
record (``child_forked``) and from the daemon's own ``/proc/PID/cmdline``: a forked daemon
shows its starter's (this test process's) command line, an exec'd one the daemon entrypoint.
"""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from plugin_core import (
    RestartPolicy,
    ServiceFailedError,
    ServiceRegistry,
    ServiceState,
    find_services,
    get_service,
    http_endpoint,
)
from plugin_core.backends.local import LocalDaemonService, read_supervisor_record
from plugin_core.cli import app
from plugin_core.processes import all_marked_processes, marked_processes
from tests.conftest import http_get
from tests.core.daemon_services import CrashingService, HTTPService
from tests.core.fork_services import (
    FlakyHTTPService,
    ReportConfig,
    ReportingService,
    SecretService,
    TreeService,
    running_thread,
    single_threaded,
    wait_for_report,
)
from tests.core.test_stop_truth import alive, wait_for

pytestmark = pytest.mark.integration

DAEMON_ENTRYPOINT = ["-m", "plugin_core.backends._daemon"]


def forked(service: LocalDaemonService) -> bool:
    """How the running daemon was launched: the supervisor's record, checked against the
    daemon's own command line."""
    record = read_supervisor_record(service.status)
    daemon = psutil.Process(record["child_pid"])
    if record["child_forked"]:
        assert daemon.cmdline() == psutil.Process().cmdline()
    else:
        assert daemon.cmdline()[1:3] == DAEMON_ENTRYPOINT
    assert daemon.ppid() == service.status.supervisor_pid
    return bool(record["child_forked"])


def test_a_single_threaded_starter_forks_a_daemon_that_serves_http() -> None:
    service = HTTPService(config=ReportConfig(name="forked-web"), endpoint=http_endpoint())
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # 3.12+: a fork with threads warns
        with single_threaded():
            service.start(timeout=30)
    assert service.status.state == ServiceState.ACTIVE
    assert forked(service)
    url = service.get_prediction_url()
    assert url is not None and http_get(url)[0] == 200
    assert get_service("forked-web").is_running
    assert any("serving on" in line for line in service.get_logs(tail=10))


def test_a_starter_with_a_thread_running_execs_the_daemon() -> None:
    service = HTTPService(config=ReportConfig(name="exec-web"), endpoint=http_endpoint())
    with running_thread():
        service.start(timeout=30)
    assert not forked(service)
    url = service.get_prediction_url()
    assert url is not None and http_get(url)[0] == 200


def test_an_earlier_status_refresh_does_not_rule_out_a_fork() -> None:
    """A script that listed its services (the observer pool's threads are then idle) and
    starts another still forks it: the starter releases the idle pool first."""
    first = HTTPService(config=ReportConfig(name="listed-web"), endpoint=http_endpoint())
    with single_threaded():
        first.start(timeout=30)
    assert [s.config.name for s in find_services(name="listed-web")] == ["listed-web"]
    assert any(t.name.startswith("outlive-refresh") for t in threading.enumerate())
    second = HTTPService(config=ReportConfig(name="after-list"), endpoint=http_endpoint())
    second.start(timeout=30)
    assert forked(second)
    assert not any(t.name.startswith("outlive-refresh") for t in threading.enumerate())


def test_a_forked_daemon_sees_the_process_state_of_an_execd_one(tmp_path: Path) -> None:
    """Environment (the daemon env, secrets, the marker), working directory, argv, signal
    dispositions and mask: the same as the exec'd daemon's. Of the starter's descriptors
    (its registry database, its claim's lock file) none is held."""
    facts = {}
    for way in ("fork", "exec"):
        report = tmp_path / f"{way}.json"
        service = ReportingService(
            config=ReportConfig(
                name=f"report-{way}", report=str(report), env={"GREETING": "hi"},
                secret_env={"API_TOKEN": "tok"},
            )
        )  # fmt: skip
        with single_threaded() if way == "fork" else running_thread():
            service.start(timeout=30)
        assert forked(service) == (way == "fork")
        facts[way] = dict(wait_for_report(str(report)), uuid=str(service.uuid))
    fork, exec_ = facts["fork"], facts["exec"]
    for side in (fork, exec_):
        environ = side["environ"]
        assert environ["OUTLIVE_SERVICE_UUID"] == side["uuid"]  # its children inherit it
        assert environ["GREETING"] == "hi" and environ["API_TOKEN"] == "tok"
        side["environ"] = {k: v.replace(side["uuid"], "<uuid>") for k, v in environ.items()}
        side["cwd"] = Path(side["cwd"]).name == side["uuid"]
        side["argv"][1] = Path(side["argv"][1]).parent.name == side["uuid"]
        # The entrypoint's own path: under nox the starter imported the installed package,
        # while an exec'd daemon finds the source tree first on the tests' PYTHONPATH.
        side["argv"][0] = Path(side["argv"][0]).parts[-3:]
    assert fork["environ"] == exec_["environ"]
    assert fork["cwd"] is exec_["cwd"] is True
    assert fork["argv"] == exec_["argv"]
    assert fork["signals"] == exec_["signals"]
    assert fork["stdout_is_fd_1"] and fork["stderr_is_fd_2"]
    held = set(fork["descriptors"].values())
    assert not [target for target in held if "registry.db" in target or target.endswith(".lock")]
    assert fork["descriptors"]["0"] == exec_["descriptors"]["0"] == "/dev/null"
    assert fork["descriptors"]["1"] == fork["descriptors"]["2"]  # the log pipe
    assert fork["descriptors"]["1"].startswith("pipe:")


def test_stop_takes_the_forked_daemons_whole_tree_and_ends_inactive(tmp_path: Path) -> None:
    report = tmp_path / "tree.json"
    service = TreeService(config=ReportConfig(name="tree", report=str(report), startsecs=0.2))
    with single_threaded():
        service.start(timeout=30)
    assert forked(service)
    pids = wait_for_report(str(report))
    daemon = service.status.pid
    assert daemon is not None
    tree = [daemon, int(pids["child"]), int(pids["escapee"])]  # type: ignore[call-overload]
    assert all(alive(pid) for pid in tree)
    # The forked daemon shows no marker in /proc, yet it is counted as the service's.
    assert daemon in [process.pid for process in marked_processes(str(service.uuid))]
    service.stop(timeout=10)
    assert [pid for pid in tree if alive(pid)] == []
    assert service.status.state == ServiceState.INACTIVE, service.status.last_error
    assert get_service("tree").status.state == ServiceState.INACTIVE
    assert marked_processes(str(service.uuid)) == []


def test_a_crash_in_a_forked_run_is_reported_with_exit_code_and_log_tail() -> None:
    service = CrashingService(config=ReportConfig(name="forked-crash", startsecs=60))
    with pytest.raises(ServiceFailedError) as info, single_threaded():
        service.start(timeout=20)
    assert info.value.exit_code == 1
    assert any("model file not found" in line for line in info.value.log_tail)
    assert any("Traceback" in line for line in info.value.log_tail)
    assert read_supervisor_record(service.status)["child_forked"] is True
    assert get_service("forked-crash").status.state == ServiceState.ERROR


def test_the_restart_policy_restarts_a_forked_daemon_through_the_exec_path(tmp_path: Path) -> None:
    report = tmp_path / "flaky.json"
    service = FlakyHTTPService(
        config=ReportConfig(
            name="flaky", report=str(report),
            restart=RestartPolicy(mode="on-failure", max_restarts=2, backoff_base=0.05),
        ),
        endpoint=http_endpoint(),
    )  # fmt: skip
    with single_threaded():
        service.start(timeout=60)
    assert service.status.state == ServiceState.ACTIVE
    record = read_supervisor_record(service.status)
    assert record["restarts"] == 1
    assert not forked(service)  # the restarted daemon was exec'd
    assert record["child_pid"] != wait_for_report(str(report))["first_pid"]
    url = service.get_prediction_url()
    assert url is not None and http_get(url)[0] == 200
    assert any("first run fails" in line for line in service.get_logs(tail=20))


def test_secrets_reach_a_forked_daemon_but_no_file(tmp_path: Path, outlive_home: Path) -> None:
    import hashlib

    secret = "s3cret-forked-value-7f9c"
    report = tmp_path / "secret.json"
    service = SecretService(
        config=ReportConfig(name="secretive", report=str(report), secret_env={"API_TOKEN": secret})
    )
    with single_threaded():
        service.start(timeout=30)
    assert forked(service)
    assert wait_for_report(str(report))["sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    leaks = [
        path
        for path in [*outlive_home.rglob("*"), *tmp_path.rglob("*")]
        if path.is_file() and secret.encode() in path.read_bytes()
    ]
    assert leaks == []


def started_forked(name: str, tmp_path: Path) -> ReportingService:
    """A forked daemon named ``name``, started and ACTIVE, with its pids recorded."""
    service = ReportingService(
        config=ReportConfig(name=name, report=str(tmp_path / f"{name}.json"), startsecs=0.2)
    )
    with single_threaded():
        service.start(timeout=30)
    assert forked(service)
    assert service.status.pid is not None and service.status.supervisor_pid is not None
    return service


def test_prune_finds_and_stops_a_forked_daemon_whose_record_was_lost(tmp_path: Path) -> None:
    service = started_forked("lost", tmp_path)
    daemon, supervisor = service.status.pid, service.status.supervisor_pid
    uuid = str(service.uuid)
    ServiceRegistry().delete("lost")
    assert sorted(all_marked_processes()[uuid]) == sorted([daemon, supervisor])
    result = CliRunner().invoke(app, ["prune", "--json"])
    assert result.exit_code == 0, result.output
    orphans = json.loads(result.stdout)["orphans"]
    assert [(o["uuid"], o["pids"]) for o in orphans] == [(uuid, sorted([daemon, supervisor]))]
    assert wait_for(lambda: not alive(daemon) and not alive(supervisor))  # type: ignore[arg-type]
    assert uuid not in all_marked_processes()


def test_prune_stops_a_forked_daemon_whose_supervisor_and_record_are_gone(tmp_path: Path) -> None:
    """With its supervisor SIGKILLed, a forked daemon has no marker /proc shows and no marked
    ancestor; its runtime directory's state.json still names it, by pid and start time."""
    import os
    import signal

    service = started_forked("stray", tmp_path)
    daemon, supervisor = service.status.pid, service.status.supervisor_pid
    assert daemon is not None and supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    assert wait_for(lambda: not alive(supervisor))
    ServiceRegistry().delete("stray")
    assert str(service.uuid) not in all_marked_processes() and alive(daemon)
    dry = json.loads(CliRunner().invoke(app, ["prune", "--dry-run", "--json"]).stdout)
    assert [(o["uuid"], o["pids"]) for o in dry["orphans"]] == [(str(service.uuid), [daemon])]
    assert alive(daemon)
    result = CliRunner().invoke(app, ["prune", "--json"])
    assert result.exit_code == 0, result.output
    assert [o["pids"] for o in json.loads(result.stdout)["orphans"]] == [[daemon]]
    assert wait_for(lambda: not alive(daemon))
    assert str(service.status.runtime_path) in json.loads(result.stdout)["swept_dirs"]


def test_a_forked_daemon_reads_the_registry_on_a_connection_of_its_own(tmp_path: Path) -> None:
    """The starter's pooled registry connections are closed before the fork (SQLite's
    per-process lock state must not be inherited: a write in the daemon could wait forever):
    the daemon opens its own, reads and writes, and the starter's registry works on."""
    from tests.core.fork_services import RegistryReader

    report = tmp_path / "registry.json"
    service = RegistryReader(config=ReportConfig(name="reader", report=str(report)))
    with single_threaded():
        service.start(timeout=30)
    assert forked(service)
    assert wait_for_report(str(report))["uuid"] == str(service.uuid)
    assert get_service("reader").status.state == ServiceState.ACTIVE
    names = sorted(s.config.service_name for s in ServiceRegistry().find())
    assert names == ["reader", "reader-note"]


def test_a_forked_daemon_does_not_inherit_its_starters_claim(tmp_path: Path) -> None:
    """The starter holds the service's claim while it starts it; the daemon's own claim on the
    name waits until the starter lets go (it would not, were the claim inherited)."""
    import time

    from tests.core.fork_services import Claimer

    report = tmp_path / "claim.json"
    service = Claimer(config=ReportConfig(name="claimer", report=str(report), startsecs=0.1))
    registry = ServiceRegistry()
    with registry.claim("claimer"):
        with single_threaded():
            service.start(timeout=30)
        assert forked(service)
        time.sleep(0.3)
        assert not report.exists()
        released = time.monotonic()
    claimed_at = wait_for_report(str(report))["claimed_at"]
    assert isinstance(claimed_at, float) and claimed_at >= released
