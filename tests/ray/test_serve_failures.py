"""Faults on a real cluster, observed as a user would: a killed replica, an unhealthy
``check_health``, a killed worker node, an app removed behind outlive's back, and two
pipelines deploying to one cluster at the same moment."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugin_core import ServiceState, get_service, start_service, stop_service
from tests.host_fixtures import postgres_server
from tests.ray.cluster import HEAD_IP, WORKER_IP, RayCluster, http_json
from tests.ray.helpers import eventually, model_service, predict, replica_ids, serve_apps

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _states_until(name: str, done: object, timeout: float = 90.0) -> list[tuple[str, str]]:
    """Observe the service (status refreshed and saved, as `outlive status` does) until
    ``done(service)``; return every (state, message) seen on the way."""
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        service = get_service(name)
        seen.append((service.status.state.value, service.status.last_error))
        if done(service):  # type: ignore[operator]
            return seen
        time.sleep(0.2)
    raise AssertionError(f"{name}: not done within {timeout}s; seen {seen[-5:]}")


def test_a_killed_replica_is_reported_and_replaced(ray_cluster: RayCluster, app_dir: Path) -> None:
    model = start_service(model_service("fault-replica", ray_cluster, app_dir), timeout=120)
    (replica,) = replica_ids(ray_cluster, "fault-replica")
    pid = predict(model.get_prediction_url() or "")["pid"]
    assert pid in {p.pid for node in ray_cluster.nodes for p in node.processes()}
    os.kill(pid, signal.SIGKILL)

    seen = _states_until("fault-replica", lambda s: s.status.state == ServiceState.ERROR)
    # Serve calls it UNHEALTHY (or RUNNING with no replica, a moment earlier): either way the
    # app cannot answer, and the message says how many replicas run and that one died.
    assert "0/1 replicas RUNNING" in seen[-1][1] and "died recently" in seen[-1][1], seen
    _states_until("fault-replica", lambda s: s.status.state == ServiceState.ACTIVE)
    recovered = get_service("fault-replica")
    assert replica_ids(ray_cluster, "fault-replica") - {replica}
    assert recovered.status.dead_replicas >= 1
    assert predict(model.get_prediction_url() or "")["pid"] != pid


def test_a_failing_check_health_is_unhealthy_then_recovers(
    ray_cluster: RayCluster, app_dir: Path, tmp_path: Path
) -> None:
    flag = tmp_path / "unhealthy"
    model = start_service(
        model_service("fault-health", ray_cluster, app_dir, env_vars={"UNHEALTHY_FLAG": str(flag)}),
        timeout=120,
    )
    assert model.status.state == ServiceState.ACTIVE
    flag.touch()
    seen = _states_until("fault-health", lambda s: s.status.state == ServiceState.ERROR)
    service = get_service("fault-health")
    assert service.status.state == ServiceState.ERROR, seen
    assert "UNHEALTHY" in service.status.last_error
    assert "health check failed" in service.status.last_error
    assert service.status.serve_status == "UNHEALTHY"
    flag.unlink()
    _states_until("fault-health", lambda s: s.status.state == ServiceState.ACTIVE)
    recovered = get_service("fault-health")
    assert recovered.status.serve_status == "RUNNING"


@pytest.fixture
def restore_worker(ray_cluster: RayCluster) -> Iterator[None]:
    yield
    ray_cluster.nodes = [n for n in ray_cluster.nodes if n.launcher.poll() is None]
    if not any(node.ip == WORKER_IP for node in ray_cluster.nodes):
        ray_cluster.add_worker()


def test_a_killed_worker_node_moves_replicas_to_the_head(
    ray_cluster: RayCluster, app_dir: Path, restore_worker: None
) -> None:
    model = start_service(model_service("fault-node", ray_cluster, app_dir, replicas=2),
                          timeout=120)
    eventually(lambda: WORKER_IP in get_service("fault-node").status.replica_nodes, timeout=30)
    (worker,) = [node for node in ray_cluster.nodes if node.ip == WORKER_IP]
    worker.kill()

    _states_until("fault-node", lambda s: s.status.state == ServiceState.ACTIVE
                  and s.status.replica_nodes == [HEAD_IP, HEAD_IP])
    service = get_service("fault-node")
    assert service.status.replica_states == {"RUNNING": 2}
    assert service.status.dead_replicas >= 1
    assert predict(model.get_prediction_url() or "")["prediction"] > 0


def test_an_app_removed_behind_outlives_back_is_reported_and_redeployed(
    ray_cluster: RayCluster, app_dir: Path
) -> None:
    """What a head restart does to Serve's apps, without restarting the session's head."""
    start_service(model_service("fault-gone", ray_cluster, app_dir), timeout=120)
    state = http_json("GET", f"{ray_cluster.dashboard_url}/api/serve/applications/")
    assert isinstance(state, dict)
    apps = [a["deployed_app_config"] for name, a in state["applications"].items()
            if name != "fault-gone"]
    http_json("PUT", f"{ray_cluster.dashboard_url}/api/serve/applications/", {
        "proxy_location": state["proxy_location"], "http_options": state["http_options"],
        "applications": apps,
    })
    eventually(lambda: "fault-gone" not in serve_apps(ray_cluster))
    service = get_service("fault-gone")
    assert service.status.state == ServiceState.ERROR
    assert "is not on the Ray cluster" in service.status.last_error
    assert "start the service again" in service.status.last_error

    again = start_service(model_service("fault-gone", ray_cluster, app_dir), timeout=120)
    assert again.status.state == ServiceState.ACTIVE
    assert predict(again.get_prediction_url() or "")["prediction"] > 0


DEPLOYER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    name, dashboard, app_dir, go, root = sys.argv[1:6]
    sys.path.append(root)  # after site-packages: outlive itself comes from where it is installed
    from plugin_core import start_service
    from tests.ray.helpers import model_service
    class Cluster:  # what model_service needs of the cluster
        dashboard_url = dashboard
    while not Path(go).exists():
        time.sleep(0.005)
    service = start_service(model_service(name, Cluster, Path(app_dir)), timeout=120)
    print(json.dumps({"state": service.status.state.value}))
""")


@pytest.fixture(params=["sqlite", "postgres"])
def shared_registry(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The registry both deployers use: the local SQLite file (its claim: a file lock), or a
    real PostgreSQL server (its claim: an advisory lock, what holds across machines)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    base = Path(tempfile.mkdtemp(prefix="outlive-pg-ray-"))
    base.chmod(0o755)  # PostgreSQL runs as its own user when the tests run as root
    server = postgres_server(base)
    monkeypatch.setenv("OUTLIVE_REGISTRY_URL", server.url)
    try:
        yield "postgres"
    finally:
        for name in ("race-a", "race-b"):
            with contextlib.suppress(Exception):
                stop_service(name, force=True)
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_two_pipelines_deploying_at_once_both_survive(
    ray_cluster: RayCluster, app_dir: Path, tmp_path: Path, shared_registry: str
) -> None:
    go = tmp_path / "go"
    deployers = [
        subprocess.Popen([sys.executable, "-c", DEPLOYER, name, ray_cluster.dashboard_url,
                          str(app_dir), str(go), str(ROOT)], stdout=subprocess.PIPE, text=True)
        for name in ("race-a", "race-b")
    ]
    time.sleep(1.0)  # both imported and waiting
    go.touch()
    for deployer in deployers:
        out, _ = deployer.communicate(timeout=180)
        assert deployer.returncode == 0
        assert json.loads(out.splitlines()[-1])["state"] == "active"
    apps = serve_apps(ray_cluster)
    assert apps["race-a"]["status"] == apps["race-b"]["status"] == "RUNNING"
    for name in ("race-a", "race-b"):
        assert predict(get_service(name).get_prediction_url() or "")["prediction"] > 0
