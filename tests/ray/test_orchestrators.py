"""A model server deployed to the two-node cluster from a Prefect flow and from an Airflow DAG,
alive after the run.

The flow runs in its own process (with Prefect's ephemeral API, as ``python flow.py`` does for
a user) and exits; the DAG runs in ``airflow dags test`` on SQLite, as a user first tries a
DAG. Either way the app must keep answering on the cluster, and outlive's registry must know
it. Users install one orchestrator: the Prefect test needs ``outlive[ray,prefect]`` (the
``ray`` session), the Airflow test ``outlive[ray,airflow]`` (marked ``airflow`` by its
fixture: the ``ray-airflow`` session); skipped without it, failing under CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from plugin_core import ServiceState, get_service, start_service, stop_service
from tests.conftest import in_ci
from tests.ray.cluster import RayCluster
from tests.ray.helpers import model_service, predict, serve_apps

if TYPE_CHECKING:
    from tests.airflow.conftest import AirflowEnv

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


def test_an_airflow_dag_deploys_a_model_that_outlives_the_run(
    ray_cluster: RayCluster, airflow: AirflowEnv, app_dir: Path
) -> None:
    # Another app on the cluster, which the DAGs must leave alone.
    bystander = start_service(model_service("bystander", ray_cluster, app_dir), timeout=120)
    conf = {"name": "dag-model", "address": ray_cluster.dashboard_url,
            "working_dir": str(app_dir)}
    deployed = airflow.dags_test("ray_deploy_model", conf=conf)
    assert (deployed.state, deployed.returncode) == ("success", 0), deployed.output[-5000:]
    assert deployed.task("wait_until_serving")["state"] == "success"

    # The run is over: the app answers through Serve's proxy, and `outlive list` shows it.
    url = deployed.xcom("wait_until_serving")["prediction_url"]
    assert url == f"{ray_cluster.proxy_url}/dag-model"
    assert predict(url)["prediction"] > 0
    listing = subprocess.run(
        [sys.executable, "-c", "from plugin_core.cli import main; main()", "list", "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    states = {info["name"]: info["state"] for info in json.loads(listing)}
    assert states == {"dag-model": "active", "bystander": "active"}
    assert serve_apps(ray_cluster)["dag-model"]["status"] == "RUNNING"
    assert get_service("dag-model").status.replica_states == {"RUNNING": 2}

    retired = airflow.dags_test("ray_retire_model", conf=conf)
    assert (retired.state, retired.returncode) == ("success", 0), retired.output[-5000:]
    apps = serve_apps(ray_cluster)
    assert "dag-model" not in apps and apps["bystander"]["status"] == "RUNNING"
    assert predict(bystander.get_prediction_url() or "")["prediction"] > 0
    assert get_service("dag-model").status.state == ServiceState.INACTIVE
    stop_service(bystander)
