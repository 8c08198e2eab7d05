"""Many hosts, one PostgreSQL registry: a name is claimed once, no write is lost, nothing orphaned.

Each host is a real PID + mount + UTS namespace with its own OUTLIVE_HOME (tests/hosts.py), so
one host truly cannot see the other's processes; all of them reach one real PostgreSQL
server on loopback. Outcomes are checked as a user would: the processes each host can see,
the record, the error a caller gets.
"""

from __future__ import annotations

import socket
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from plugin_core.waiting import wait_until
from tests.host_fixtures import (
    CALLERS_PER_HOST,
    SETUP,
    namespaces,
    postgres,
    postgres_server,
    racing_hosts,
    two_hosts,
)
from tests.hosts import HostCallError, SimulatedHost

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
__all__ = ["namespaces", "postgres", "racing_hosts", "two_hosts"]  # fixtures used by name

RACE_ROUNDS = 20


class Barrier:
    """Every caller on every host connects and blocks; all are released by one write each."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=parties)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._release, daemon=True)
        self._thread.start()

    def _release(self) -> None:
        waiting = [self._listener.accept()[0] for _ in range(self.parties)]
        for conn in waiting:
            conn.sendall(b"g")
        for conn in waiting:
            conn.close()
        self._listener.close()


RACE = """
barrier = socket.create_connection(("127.0.0.1", args["port"]))
barrier.recv(1)
try:
    got = start_service(sleeper(args["name"], args["tag"]), timeout=60)
    result = {"uuid": str(got.uuid), "state": got.status.state.value}
except OutliveError as exc:
    result = {"error": type(exc).__name__, "message": str(exc)}
"""


def test_two_hosts_racing_to_start_one_name_get_one_instance(
    racing_hosts: tuple[SimulatedHost, SimulatedHost],
) -> None:
    """2 hosts x 10 callers start one name at a barrier, 20 rounds: one process runs, on the
    host the record names, and every caller returns ACTIVE with that service's uuid."""
    hosts = {host.name: host for host in racing_hosts}
    failures: list[str] = []
    winners: dict[str, int] = {"host-a": 0, "host-b": 0}
    for round_ in range(RACE_ROUNDS):
        name, tag = f"race-{round_}", str(round_)
        barrier = Barrier(2 * CALLERS_PER_HOST)
        pending = [h.fan_out_async(RACE, port=barrier.port, name=name, tag=tag) for h in racing_hosts]
        outcomes = [outcome for future in pending for outcome in future.result(timeout=120)]
        seen = {host.name: host.run("result = running(args['tag'])", tag=tag) for host in racing_hosts}
        owner = hosts["host-a"].run(
            "s = ServiceRegistry().get(args['name']); "
            "result = [s.status.owner_host.hostname, str(s.uuid), s.status.state.value]",
            name=name,
        )
        uuids = {o.get("uuid") for o in outcomes}
        problems = [o for o in outcomes if o.get("state") != "active"]
        instances = sum(len(pids) for pids in seen.values())
        if problems or len(uuids) != 1 or instances != 1 or not seen[owner[0]]:
            failures.append(f"round {round_}: {instances} instances {seen}, uuids {uuids}, "
                            f"record {owner}, not active: {problems[:3]}")
        else:
            assert uuids == {owner[1]} and owner[2] == "active"
            winners[owner[0]] += 1
        hosts[owner[0]].run("stop_service(args['name']); delete_service(args['name'])", name=name)
        assert all(not h.run("result = running(args['tag'])", tag=tag) for h in racing_hosts)
    print(f"race rounds: {RACE_ROUNDS}, callers per round: {2 * CALLERS_PER_HOST}, "
          f"failures: {len(failures)}, rounds won by host: {winners}")
    assert failures == []


STALE_UPDATE = """
held = get_service(args["name"], refresh=False)
"""


def test_update_based_on_a_stale_read_raises_and_loses_nothing(
    two_hosts: tuple[SimulatedHost, SimulatedHost],
) -> None:
    """A reads, B reads, A updates the running service; B's update of its stale copy (and A's
    of an older copy) raises ConcurrentUpdateError carrying the current state: A's stays."""
    a, b = two_hosts
    a.run("start_service(sleeper('shared', '101'), timeout=30)")
    a.run(STALE_UPDATE, name="shared")
    b.run(STALE_UPDATE, name="shared")
    a.run("update_service('shared', sleeper('shared', '102').config, timeout=30)")
    assert a.run("result = running('102')") and not a.run("result = running('101')")

    for host in (b, a):
        with pytest.raises(HostCallError) as raised:
            host.run("update_service(held, sleeper('shared', '103').config, timeout=30)")
        assert raised.value.kind == "ConcurrentUpdateError"
        assert "changed in the registry since it was read" in raised.value.message
        assert raised.value.attrs["current_state"] == "active"
        assert raised.value.attrs["current_version"] > raised.value.attrs["read_version"]

    record = b.run("s = get_service('shared'); result = [s.config.command, s.status.state.value]")
    assert record == [["sleep", "86400.102"], "active"]
    assert len(a.run("result = running('102')")) == 1 and not a.run("result = running('103')")
    assert not b.run("result = running('102') + running('103')")


def test_a_local_service_is_stopped_only_from_its_own_host(
    two_hosts: tuple[SimulatedHost, SimulatedHost],
) -> None:
    """Host B's stop (API and CLI), delete and replacement fail naming host-a and change
    nothing; B's start of the same definition reuses A's service; B's status says what it
    cannot see instead of declaring the service dead; host A's stop works."""
    a, b = two_hosts
    a.run("start_service(sleeper('local-svc', '201'), timeout=30)")

    with pytest.raises(HostCallError) as raised:
        b.run("stop_service('local-svc')")
    assert raised.value.kind == "ServiceOnOtherHostError"
    assert "host-a" in raised.value.message and "only be signalled from its own host" in raised.value.message
    cli = b.run(
        "import subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-c', 'from plugin_core.cli import main; main()',"
        " 'stop', 'local-svc'], capture_output=True, text=True)\n"
        "result = [done.returncode, done.stderr]"
    )
    assert cli[0] == 4 and "host-a" in cli[1] and "Traceback" not in cli[1]
    with pytest.raises(HostCallError, match="host-a"):
        b.run("delete_service('local-svc')")
    for replace in ("update_service('local-svc', sleeper('local-svc', '202').config)",
                    "start_service(sleeper('local-svc', '202'), timeout=30)"):
        with pytest.raises(HostCallError) as raised:
            b.run(replace)
        assert raised.value.kind == "ServiceOnOtherHostError" and "Cannot replace" in raised.value.message
    reused = b.run("s = start_service(sleeper('local-svc', '201'), timeout=30); "
                   "result = [str(s.uuid), s.status.state.value]")
    assert reused == [a.run("result = str(get_service('local-svc').uuid)"), "active"]
    assert not b.run("result = running('201') + running('202')")

    seen_from_b = b.run(
        "s = get_service('local-svc'); info = service_info(s); "
        "result = [s.status.state.value, s.admin_state.value, info['host'], info['observed']]"
    )
    assert seen_from_b[:2] == ["active", "active"]
    assert seen_from_b[2].startswith("host-a") and "not visible from host-b" in seen_from_b[3]
    assert len(a.run("result = running('201')")) == 1

    a.run("stop_service('local-svc')")
    assert a.run("result = running('201')") == []
    assert b.run("result = get_service('local-svc').status.state.value") == "inactive"


def test_registry_killed_between_launch_and_record_leaves_no_orphan(
    namespaces: None, tmp_path: Path
) -> None:
    """PostgreSQL dies right after the process is launched: the call raises a RegistryError
    saying the launch was stopped again, and no process of it is left on the host."""
    base = Path(tempfile.mkdtemp(prefix="outlive-pg-killed-"))
    base.chmod(0o755)
    server = postgres_server(base)
    try:
        with SimulatedHost("host-a", tmp_path / "a", server.url) as host:
            host.run(SETUP)
            handshake = tmp_path / "handshake"
            handshake.mkdir()
            host.run(
                "from tests.core.registry_faults import HANDSHAKE_ENV, RegistryKillingService\n"
                "os.environ[HANDSHAKE_ENV] = args['dir']",
                dir=str(handshake),
            )
            with ThreadPoolExecutor(1) as pool:
                call = pool.submit(
                    host.run,
                    "start_service(sleeper('doomed', '301', RegistryKillingService), timeout=30)",
                )
                assert wait_until(lambda: (handshake / "launched").exists() or None, timeout=30)
                server.stop()
                (handshake / "registry-gone").touch()
                with pytest.raises(HostCallError) as raised:
                    call.result(timeout=60)
            assert raised.value.kind == "RegistryError"
            assert "stopped again, so nothing runs unrecorded" in raised.value.message
            assert host.run("result = running('301')") == []
            assert host.run("result = all_marked_processes()") == {}

            server.restart()
            restarted = host.run(
                "s = start_service(sleeper('doomed', '301'), timeout=30); "
                "result = s.status.state.value"
            )
            assert restarted == "active" and len(host.run("result = running('301')")) == 1
    finally:
        server.stop()

