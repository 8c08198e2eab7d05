"""The Ray Serve backend on a real two-node cluster: deploy, reuse, update in place, stop only
its app, a bad import path, logs (read and followed), and what a user sees in `outlive list`."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from plugin_core import (
    RayServeService,
    ServiceFailedError,
    ServiceRegistry,
    ServiceState,
    get_service,
    start_service,
    stop_service,
    update_service,
)
from tests.ray.cluster import HEAD_IP, WORKER_IP, RayCluster
from tests.ray.helpers import (
    Collected,
    eventually,
    model_service,
    predict,
    replica_ids,
    serve_apps,
)

pytestmark = pytest.mark.integration


def test_deploy_reuse_update_in_place_and_stop_only_this_app(
    ray_cluster: RayCluster, app_dir: Path
) -> None:
    model = start_service(model_service("model-a", ray_cluster, app_dir), timeout=120)
    assert model.status.state == ServiceState.ACTIVE
    url = model.get_prediction_url()
    assert url == f"{ray_cluster.proxy_url}/model-a"
    assert predict(url)["version"] == "1"
    first = replica_ids(ray_cluster, "model-a")
    assert len(first) == 1

    # The same definition again (another pipeline run) reuses the running app.
    again = start_service(model_service("model-a", ray_cluster, app_dir), timeout=60)
    assert again.uuid == model.uuid
    assert replica_ids(ray_cluster, "model-a") == first

    # 1 -> 3 replicas in place: the running replica is kept, the new ones spread over both nodes.
    scaled = again.config.model_copy(update={"num_replicas": 3})
    model = update_service("model-a", scaled, timeout=120)
    assert model.status.state == ServiceState.ACTIVE
    now = replica_ids(ray_cluster, "model-a")
    assert len(now) == 3 and first <= now
    assert model.status.replica_states == {"RUNNING": 3}
    assert set(model.status.replica_nodes) == {HEAD_IP, WORKER_IP}

    # A neighbour app on the same cluster survives this app's stop.
    other = start_service(model_service("model-b", ray_cluster, app_dir), timeout=120)
    stop_service(model)
    assert get_service("model-a").status.state == ServiceState.INACTIVE
    apps = serve_apps(ray_cluster)
    assert "model-a" not in apps and apps["model-b"]["status"] == "RUNNING"
    assert predict(other.get_prediction_url() or "")["prediction"] > 0
    stop_service(other)
    assert "model-b" not in serve_apps(ray_cluster)


def test_a_changed_working_dir_is_served_fresh(ray_cluster: RayCluster, app_dir: Path) -> None:
    (app_dir / "version.txt").write_text("first\n")
    model = start_service(model_service("model-files", ray_cluster, app_dir), timeout=120)
    assert predict(model.get_prediction_url() or "")["version"] == "first"
    first_package = model.status.package_uri

    (app_dir / "version.txt").write_text("second\n")
    changed = model_service("model-files", ray_cluster, app_dir, env_vars={"NOTE": "changed"})
    model = update_service("model-files", changed, timeout=120)
    assert model.status.package_uri != first_package
    assert predict(model.get_prediction_url() or "")["version"] == "second"


def test_bad_import_path_fails_fast_with_serves_message(
    ray_cluster: RayCluster, app_dir: Path
) -> None:
    bad = RayServeService.http("model-bad", "no_such_module:app",
                               address=ray_cluster.dashboard_url, working_dir=str(app_dir))
    with pytest.raises(ServiceFailedError) as failure:
        start_service(bad, timeout=120)
    assert "DEPLOY_FAILED" in str(failure.value)
    assert "No module named 'no_such_module'" in str(failure.value)
    record = get_service("model-bad")
    assert record.status.state == ServiceState.ERROR
    assert "No module named 'no_such_module'" in record.status.last_error
    assert "Traceback" in record.status.serve_message


def test_logs_come_from_the_replicas(ray_cluster: RayCluster, app_dir: Path) -> None:
    model = start_service(model_service("model-logs", ray_cluster, app_dir), timeout=120)
    predict((model.get_prediction_url() or "") + "/hello")
    lines = list(model.get_logs(tail=20))
    assert any("predicting for /model-logs/hello" in line for line in lines), lines
    (replica,) = replica_ids(ray_cluster, "model-logs")
    assert all(line.startswith(f"[{replica}] ") for line in lines)


def test_following_the_logs_streams_each_request_until_the_app_is_stopped(
    ray_cluster: RayCluster, app_dir: Path
) -> None:
    """`outlive logs -f` and ``get_logs(follow=True)`` print the replica's line for each request
    while they follow (only new lines with a tail of 0), pick up a replica that appears, and
    end by themselves once the app is stopped; a caller may also end one by sending True."""
    model = start_service(model_service("model-follow", ray_cluster, app_dir), timeout=120)
    url = model.get_prediction_url() or ""
    predict(url + "/before")
    cli = subprocess.Popen(
        [sys.executable, "-c", "from plugin_core.cli import main; main()",
         "logs", "--follow", "--tail", "0", "model-follow"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    printed = Collected(cli.stdout or ())
    followed = Collected(model.get_logs(follow=True, tail=0))
    try:
        # Each follower opens its streams in its own time: knock until both show a request.
        def both_follow() -> bool:
            predict(url + "/knock")
            return bool(printed.having("/model-follow/knock") and followed.having("/model-follow/knock"))

        eventually(both_follow, timeout=90, interval=1.0)
        for n in range(3):
            predict(f"{url}/request-{n}")
        for lines in (printed, followed):
            eventually(lambda lines=lines: lines.having("/model-follow/request-2"), timeout=30)
            served = [lines.having(f"predicting for /model-follow/request-{n}") for n in range(3)]
            assert [len(found) for found in served] == [1, 1, 1], lines.lines
            assert lines.lines.index(served[0][0]) < lines.lines.index(served[2][0])
            assert not lines.having("/model-follow/before")  # --tail 0: only new lines
        (replica,) = replica_ids(ray_cluster, "model-follow")
        assert all(line.startswith(f"[{replica}] ") for line in followed.lines)

        # ZenML's protocol: sending True ends a follow.
        logs = model.get_logs(follow=True, tail=1)
        assert next(logs).startswith(f"[{replica}] ")
        with pytest.raises(StopIteration):
            logs.send(True)

        # A replica that appears while following (here a scale-up) is followed from its start.
        scaled = model.config.model_copy(update={"num_replicas": 2})
        model = update_service("model-follow", scaled, timeout=120)
        (added,) = replica_ids(ray_cluster, "model-follow") - {replica}
        eventually(lambda: followed.having(f"[{added}] "), timeout=30)
        assert any("initializing replica" in line for line in followed.having(f"[{added}] "))

        stop_service(model)
        assert followed.done(timeout=60)
        assert cli.wait(timeout=60) == 0, printed.lines[-20:]
        # Each follow's streams (a thread and a request per replica) end with it.
        eventually(lambda: not [t for t in threading.enumerate() if t.name.startswith("outlive-log-")],
                   timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()


def test_outlive_list_shows_the_cluster_service(ray_cluster: RayCluster, app_dir: Path) -> None:
    start_service(model_service("model-cli", ray_cluster, app_dir), timeout=120)
    listing = subprocess.run(
        [sys.executable, "-c", "from plugin_core.cli import main; main()", "list"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert "model-cli" in listing and "active" in listing.lower()
    stored = ServiceRegistry().get("model-cli")
    assert isinstance(stored, RayServeService) and stored.type == "outlive.ray-serve"
