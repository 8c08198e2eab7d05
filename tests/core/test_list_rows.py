"""``outlive list`` from the rows (plugin_core.cli.rows) says what the models say.

The listing judges a row of a command service from its stored documents, by the rules the
models use (plugin_core.observation), and takes the model path for anything else. These tests
put every kind of row in one registry, with real processes: an active service, a stopped one,
one whose processes were killed, one whose recorded pids now name other processes (reused
pids), one that crashed, one owned by another host, a local daemon (another type) and a
corrupt record. The first listing must take the model path (it has rows only the models can
judge, and looks that must be saved); once the models have saved what they saw, every
command-service row read from its documents gives the model path's ``service_info`` exactly,
the other rows still go to the models, and the corrupt one is quarantined without hiding any.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from plugin_core import CommandService, CommandServiceConfig, ServiceRegistry, start_service
from plugin_core.cli import app, rows as rows_module
from plugin_core.cli.rows import Fallback, Row, fast_listing
from plugin_core.errors import OutliveError
from plugin_core.hosts import HostIdentity
from plugin_core.lifecycle import find_services, stop_service
from plugin_core.processes import identity_of
from plugin_core.snapshots import service_info
from tests.core.daemon_services import LoopService

pytestmark = pytest.mark.integration

PY = sys.executable


def web(name: str) -> CommandService:
    return CommandService.http(name, [PY, "-m", "http.server", "{port}", "--bind", "{host}"])


def model_infos(registry: ServiceRegistry) -> list[dict[str, Any]]:
    """Today's listing: every record loaded as a model, observed, saved if changed."""
    return [service_info(service) for service in find_services(registry=registry)]


def kill_processes(service: CommandService) -> None:
    """SIGKILL the supervisor and the service process: nothing records the end."""
    for pid in (service.status.supervisor_pid, service.status.pid):
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


def reuse_pids(service: CommandService, registry: ServiceRegistry, stand_in: int) -> None:
    """Kill the service's processes, then point its records at a live process of another
    start time (as after the pids were reused): the pids are alive, the tokens differ."""
    runtime = Path(str(service.status.runtime_path))
    kill_processes(service)
    state_file = runtime / "state.json"
    record = json.loads(state_file.read_text())
    token = identity_of(stand_in)
    assert token is not None
    record.update(supervisor_pid=stand_in, child_pid=stand_in, child_token=token.token + "1")
    state_file.write_text(json.dumps(record))
    stored = registry.get(service.config.service_name)
    stored.status.supervisor_pid, stored.status.supervisor_token = stand_in, token.token + "1"
    registry.save(stored)


@pytest.fixture
def mixed(outlive_home: Path) -> Any:
    """One registry holding every kind of row; yields (registry, the stand-in process)."""
    registry = ServiceRegistry()
    start_service(web("active"), timeout=30)
    stop_service(start_service(web("stopped"), timeout=30), timeout=5)
    kill_processes(start_service(web("dead"), timeout=30))
    stand_in = subprocess.Popen(["sleep", "600"])
    reuse_pids(start_service(web("reused"), timeout=30), registry, stand_in.pid)
    crashing = CommandService(
        config=CommandServiceConfig(name="crashed", command=[PY, "-c", "exit(3)"], startsecs=0.5)
    )
    with pytest.raises(OutliveError):
        start_service(crashing, timeout=10)
    moved = stop_service(start_service(web("moved"), timeout=30), timeout=5)
    moved.status.owner_host = HostIdentity(hostname="host-z", boot_id="0" * 32, pid_namespace="1")
    registry.save(moved)
    registry.save(LoopService(config={"name": "daemon"}))  # another type, never started
    registry.save(CommandService(config=CommandServiceConfig(name="bad", command=["true"])))
    with sqlite3.connect(outlive_home / "registry.db") as db:
        db.execute("UPDATE outlive_services SET config = '{not json' WHERE name = 'bad'")
    yield registry
    stand_in.kill()
    stand_in.wait()


FALLS_BACK = {"moved", "daemon", "bad"}
"""Rows only the models may judge: another host's, another type, a corrupt one."""


def test_rows_and_models_agree_on_every_kind_of_row(mixed: ServiceRegistry) -> None:
    registry = mixed
    with pytest.raises(Fallback):  # a corrupt row, another type, and looks to be saved
        fast_listing(registry)
    debug = CliRunner().invoke(app, ["--debug", "list", "--json"])
    assert "listing through the service models" in debug.stderr, debug.output

    expected = {info["name"]: info for info in model_infos(registry)}  # saves what it saw
    assert [problem.service_name for problem in registry.corrupt_records] == ["bad"]
    assert set(expected) == {"active", "stopped", "dead", "reused", "crashed", "moved", "daemon"}
    states = {name: info["state"] for name, info in expected.items()}
    assert states["active"] == "active"
    assert states["stopped"] == "inactive"
    assert states["dead"] == states["reused"] == states["crashed"] == "error"
    assert expected["crashed"]["exit_code"] == 3

    for record in registry.list_records():
        if record.name in FALLS_BACK:
            with pytest.raises(Fallback):
                Row.of(record).observed()
            continue
        assert Row.of(record).observed() == expected[record.name], record.name


def test_without_rows_for_the_models_the_listing_is_the_model_listing(
    mixed: ServiceRegistry,
) -> None:
    registry = mixed
    model_infos(registry)  # the first listing saves what it saw (dead, reused)
    for name in FALLS_BACK:
        registry.delete(name)
    fast = fast_listing(registry)
    assert fast.infos == model_infos(registry)
    assert fast.orphans == []
    by_cli = CliRunner().invoke(app, ["list", "--json"])
    assert by_cli.exit_code == 0, by_cli.output
    assert json.loads(by_cli.stdout) == json.loads(json.dumps(fast.infos, default=str))


def test_the_cli_reports_a_corrupt_row_and_lists_the_others(mixed: ServiceRegistry) -> None:
    listed_now = CliRunner().invoke(app, ["list", "--json"])
    assert listed_now.exit_code == 0, listed_now.output
    names = [info["name"] for info in json.loads(listed_now.stdout)]
    assert names == ["active", "stopped", "dead", "reused", "crashed", "moved", "daemon"]
    assert "'bad'" in listed_now.stderr and "corrupted" in listed_now.stderr


LISTING_IMPORTS = """
import json, sys
from plugin_core.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "sqlalchemy"))),
      file=sys.stderr)
"""


def test_outlive_list_imports_no_pydantic_when_every_row_qualifies(outlive_home: Path) -> None:
    start_service(web("one"), timeout=30)
    stop_service(start_service(web("two"), timeout=30), timeout=5)
    for args in (["list"], ["list", "--json"]):
        proc = subprocess.run(
            [PY, "-c", LISTING_IMPORTS, *args], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert "one" in proc.stdout and "two" in proc.stdout
        assert json.loads(proc.stderr.splitlines()[-1]) == [], args


def test_a_row_of_another_record_format_goes_to_the_models(outlive_home: Path) -> None:
    registry = ServiceRegistry()
    registry.save(web("older"))
    with sqlite3.connect(outlive_home / "registry.db") as db:
        db.execute("UPDATE outlive_services SET record_format = 1")
    assert [record.record_format for record in registry.list_records()] == [1]
    with pytest.raises(Fallback, match="format 1"):
        fast_listing(registry)
    assert [info["name"] for info in model_infos(registry)] == ["older"]


def test_the_row_reader_names_what_the_models_name() -> None:
    """The constants rows.py reads rows by are the models' own."""
    from plugin_core.backends.command import CommandService, CommandServiceConfig
    from plugin_core.model.standard_monitors import (
        HTTPEndpointHealthMonitor,
        TCPEndpointHealthMonitor,
    )
    from plugin_core.model.type_names import type_name_of
    from plugin_core.model.typed import RECORD_FORMAT

    assert rows_module.RECORD_FORMAT == RECORD_FORMAT
    kind = f"{CommandService.SERVICE_TYPE.type}/{CommandService.SERVICE_TYPE.flavor}"
    assert {
        type_name_of(CommandService): (kind, type_name_of(CommandServiceConfig))
    } == rows_module.KINDS
    assert {type_name_of(HTTPEndpointHealthMonitor), type_name_of(TCPEndpointHealthMonitor)} == (
        rows_module.MONITORS
    )
