"""One real two-node Ray cluster for the whole session (see :mod:`tests.ray.cluster`).

Without a ``ray`` command the tests skip with the reason; with ``CI=true`` they fail, so CI
can never pass by skipping. The cluster runs from its own ``ray[serve]`` installation (this
venv's, or ``$OUTLIVE_RAY_BIN``); the tests themselves talk to it over HTTP only, as a
pipeline does.

Users install one orchestrator: a test that runs Airflow (the ``airflow`` fixture) is marked
``airflow`` and runs in the ``ray-airflow`` nox session (outlive[ray,airflow]); the ``ray``
session (outlive[ray,prefect]) runs the rest.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import in_ci
from tests.ray.cluster import RayCluster, RayStartTimedOut, RayUnavailable, ray_bin

if TYPE_CHECKING:
    from tests.airflow.conftest import AirflowEnv

APPS = Path(__file__).resolve().parent / "apps"
DAGS = Path(__file__).resolve().parent / "airflow_dags.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the ``airflow`` fixture needs Airflow: mark it ``airflow``."""
    for item in items:
        if "airflow" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.airflow)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A head on 127.0.0.2 and a worker on 127.0.0.3, Serve's proxy on the head only."""
    try:
        binary = ray_bin()
    except RayUnavailable as exc:
        if in_ci():
            pytest.fail(f"Ray tests cannot run in CI: {exc}", pytrace=False)
        pytest.skip(f"Ray tests skipped: {exc}")
    cluster = _started_cluster(binary)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


def _started_cluster(binary: Path) -> RayCluster:
    """A started cluster. Only a ``ray start`` that timed out on its own startup (a slow
    machine, not a broken cluster: :class:`RayStartTimedOut`) is retried, once, as a fresh
    cluster on new ports; any other failure fails the tests at once."""
    try:
        return _fresh_cluster(binary)
    except RayStartTimedOut:
        return _fresh_cluster(binary)


def _fresh_cluster(binary: Path) -> RayCluster:
    """A cluster in a new temp dir, started; on any failure its processes and files are gone."""
    root = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: socket paths
    cluster = RayCluster(root, ray=binary)
    try:
        return cluster.start(workers=1)
    except BaseException:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A private copy of the test app, so a test may change its files."""
    target = tmp_path / "app"
    shutil.copytree(APPS, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def airflow(outlive_home: Path, tmp_path: Path) -> AirflowEnv:
    """Airflow as tests/airflow runs it: a private AIRFLOW_HOME with a migrated SQLite DB, a DAG
    folder holding tests/ray/airflow_dags.py, and ``airflow dags test`` in a subprocess that
    shares this test's outlive registry."""
    if importlib.util.find_spec("airflow") is None:
        if in_ci():
            pytest.fail("Airflow is not installed: the ray-airflow session installs "
                        "outlive[ray,airflow]", pytrace=False)
        pytest.skip("Airflow is not installed (pip install 'outlive[airflow]')")
    env = {
        **os.environ,  # before the import below, which sets tests/airflow's own Airflow env
        "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "OUTLIVE_HOME": str(outlive_home),
    }
    from tests.airflow.conftest import AIRFLOW, AirflowEnv

    env.pop("OUTLIVE_REGISTRY_URL", None)
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / DAGS.name).symlink_to(DAGS)  # Airflow parses files in its bundle only
    airflow = AirflowEnv(root=tmp_path, env=env)
    migrated = airflow.run([AIRFLOW, "db", "migrate"], timeout=300, log_name="db-migrate")
    assert migrated.returncode == 0, migrated.stdout[-3000:]
    return airflow
