"""Processes that carry outlive's marker but that no record accounts for are found and stopped.

Real processes: a service is started, then its record is lost (deleted behind outlive's back)
or taken over by another host; ``outlive list``/``status`` report the live processes with
their pids, ``prune --dry-run`` lists them, ``prune`` stops them and sweeps their files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from plugin_core import CommandService, CommandServiceConfig, ServiceRegistry, start_service
from plugin_core.cli import app
from plugin_core.hosts import HostIdentity
from plugin_core.processes import all_marked_processes

pytestmark = pytest.mark.integration


def outlive(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def sleeper(name: str) -> CommandService:
    return CommandService(
        config=CommandServiceConfig(name=name, command=["sleep", "3600"], startsecs=0.2)
    )


def test_a_process_whose_record_was_lost_is_reported_then_stopped(outlive_home: Path) -> None:
    started = start_service(sleeper("lost"), timeout=20)
    uuid = str(started.uuid)
    ServiceRegistry().delete("lost")  # the record is gone; its processes are not
    pids = all_marked_processes()[uuid]
    assert pids

    listed = outlive("list")
    assert "unrecorded process(es)" in listed.stderr and str(pids[0]) in listed.stderr
    dry = json.loads(outlive("prune", "--dry-run", "--json").stdout)
    assert dry["orphans"] == [{"uuid": uuid, "pids": sorted(pids), "reason": "no record in the registry"}]
    assert all_marked_processes()[uuid] == pids  # a dry run touches nothing

    report = json.loads(outlive("prune", "--json").stdout)
    assert [orphan["uuid"] for orphan in report["orphans"]] == [uuid]
    assert uuid not in all_marked_processes()
    assert report["swept_dirs"] == [str(outlive_home / "services" / uuid)]


def test_processes_left_here_after_another_host_took_the_record_are_orphans(
    outlive_home: Path,
) -> None:
    started = start_service(sleeper("moved"), timeout=20)
    uuid = str(started.uuid)
    registry = ServiceRegistry()
    record = registry.get("moved")
    record.status.owner_host = HostIdentity(hostname="host-z", boot_id="0" * 32, pid_namespace="1")
    registry.save(record)  # as if host-z had relaunched it after this host recorded it stopped

    status = outlive("status", "moved")
    assert status.exit_code == 0, status.output
    assert "host-z" in status.stdout and "not visible from" in status.stdout
    assert "unrecorded process(es)" in status.stderr and "host-z" in status.stderr

    report = json.loads(outlive("prune", "--json").stdout)
    assert [orphan["uuid"] for orphan in report["orphans"]] == [uuid]
    assert "belongs to host host-z" in report["orphans"][0]["reason"]
    assert uuid not in all_marked_processes()
    assert report["deleted"] == []  # the record is host-z's, and it says active: kept


def test_a_recorded_running_service_is_no_orphan(outlive_home: Path) -> None:
    start_service(sleeper("fine"), timeout=20)
    assert json.loads(outlive("prune", "--dry-run", "--json").stdout)["orphans"] == []
    assert "unrecorded" not in outlive("list").stderr
