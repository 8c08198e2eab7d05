"""A backend added in one module, registered by type name, works everywhere at once.

:mod:`tests.core.spawn_backend` is written against :mod:`plugin_core.backends.contract` alone
and registered the way a third-party package would do it: an ``outlive.services`` entry point
(``spawn = tests.core.spawn_backend:SpawnedService``) in its distribution's metadata, here a
``.dist-info`` directory put on the path. No file of plugin_core names it, yet start, status,
the endpoint's URL, logs, stop (with its own grace period), prune (record, runtime directory,
leftovers) and ``outlive list`` all work on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plugin_core import (
    ServiceRegistry,
    ServiceState,
    find_services,
    get_service,
    load_service,
    prune_services,
    service_info,
    start_service,
    stop_service,
)
from plugin_core.processes import ProcessIdentity
from tests.conftest import http_get

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def spawn_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ``spawn`` type name, registered through package metadata for this process and
    for the CLI run in a subprocess."""
    dist = tmp_path / "site" / "outlive_spawn_backend-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: outlive-spawn-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[outlive.services]\nspawn = tests.core.spawn_backend:SpawnedService\n"
    )
    site = str(dist.parent)
    monkeypatch.syspath_prepend(site)
    path = os.pathsep.join(p for p in (site, str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    return dist.parent


def definition(name: str) -> dict[str, object]:
    return {
        "type": "spawn",
        "config": {
            "name": name,
            "argv": [sys.executable, "-m", "http.server", "{port}", "--bind", "{host}"],
            "grace": 30,
            "route": "/served",
        },
        "endpoint": {"protocol": "http", "health": "/"},
    }


def outlive_list() -> list[dict[str, object]]:
    """``outlive list --json``, run as a user runs it: another process, same registry."""
    done = subprocess.run(
        [sys.executable, "-m", "plugin_core.cli", "list", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    listed: list[dict[str, object]] = json.loads(done.stdout)
    return listed


def test_a_backend_from_one_module_runs_the_whole_lifecycle(spawn_registered: Path) -> None:
    registry = ServiceRegistry()
    service = start_service(load_service(definition("spawned-web")), registry=registry, timeout=30)
    assert service.status.state == ServiceState.ACTIVE
    assert type(service).__module__ == "tests.core.spawn_backend"

    info = service_info(get_service("spawned-web", registry=registry))
    assert info["state"] == "active" and info["kind"] == "test/spawn"
    assert http_get(str(info["url"]))[0] == 200
    assert info["prediction_url"] == f"{info['url']}/served"  # its `route`, via the contract
    runtime = Path(str(info["runtime_path"]))  # its `workdir`, via the contract
    assert (runtime / "service.json").is_file()
    pid = info["pid"]
    assert isinstance(pid, int)
    assert any("GET /" in line for line in get_service("spawned-web").get_logs(tail=20))

    [listed] = [row for row in outlive_list() if row["name"] == "spawned-web"]
    assert listed["state"] == "active" and listed["pid"] == pid

    stopped = stop_service("spawned-web", registry=registry, timeout=1)
    assert stopped is not None and stopped.status.state == ServiceState.INACTIVE
    assert not ProcessIdentity(pid, str(service.status.process_token)).is_alive()

    report = prune_services(registry=registry)
    assert report.deleted == ["spawned-web"]
    assert not runtime.exists()  # the backend's files went with the record
    assert find_services(registry=registry) == []


def test_prune_asks_the_backend_about_a_directory_no_record_names(spawn_registered: Path) -> None:
    """A record deleted behind outlive's back leaves a running program and its directory: a
    dry run keeps the directory with the backend's reason, a real prune stops the program
    (it carries the service's marker) and sweeps the directory."""
    registry = ServiceRegistry()
    service = start_service(load_service(definition("lost-web")), registry=registry, timeout=30)
    files = service.runtime_files()
    assert files is not None
    registry.delete("lost-web")

    preview = prune_services(registry=registry, dry_run=True)
    assert preview.kept_dirs == [(str(files.path), f"program {service.status.process_pid} still runs")]
    assert files.path.exists()

    report = prune_services(registry=registry)
    assert [orphan.uuid for orphan in report.orphans] == [str(service.uuid)]
    assert report.swept_dirs == [str(files.path)] and not files.path.exists()
    assert service.check_status()[0] != ServiceState.ACTIVE
