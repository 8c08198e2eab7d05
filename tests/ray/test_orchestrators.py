"""A model server deployed to the two-node cluster from a Prefect flow, alive after the run.

The flow runs in its own process (with Prefect's ephemeral API, as ``python flow.py`` does for
a user) and exits; the app must keep answering on the cluster, and outlive's registry must
know it. Needs Prefect in the environment (``outlive[ray,prefect]``): skipped without it,
failing under CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from plugin_core import ServiceState, get_service, stop_service
from tests.conftest import in_ci
from tests.ray.cluster import RayCluster
from tests.ray.helpers import predict, serve_apps

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_a_prefect_flow_deploys_a_model_that_outlives_the_run(
    ray_cluster: RayCluster, app_dir: Path
) -> None:
    if importlib.util.find_spec("prefect") is None:
        if in_ci():
            pytest.fail("Prefect is not installed: the ray session installs outlive[ray,prefect]")
        pytest.skip("Prefect is not installed (pip install 'outlive[prefect]')")
    env = {
        **os.environ,
        "PREFECT_HOME": tempfile.mkdtemp(prefix="prefect-home-"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",  # a loaded 2-core machine
    }
    env.pop("PREFECT_API_URL", None)
    run = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "ray" / "prefect_flow.py"), "flow-model",
         ray_cluster.dashboard_url, str(app_dir)],
        capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    info = json.loads(run.stdout.strip().splitlines()[-1])
    assert info["state"] == "active"

    # The flow's process is gone; the app still serves, on both nodes' replicas.
    assert serve_apps(ray_cluster)["flow-model"]["status"] == "RUNNING"
    service = get_service("flow-model")
    assert service.status.state == ServiceState.ACTIVE
    assert service.status.replica_states == {"RUNNING": 2}
    assert predict(service.get_prediction_url() or "")["prediction"] > 0
    stop_service(service)
    assert "flow-model" not in serve_apps(ray_cluster)
