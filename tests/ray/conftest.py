"""One real two-node Ray cluster for the whole session (see :mod:`tests.ray.cluster`).

Without a ``ray`` command the tests skip with the reason; with ``CI=true`` they fail, so CI
can never pass by skipping. The cluster runs from its own ``ray[serve]`` installation (this
venv's, or ``$OUTLIVE_RAY_BIN``); the tests themselves talk to it over HTTP only, as a
pipeline does.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import in_ci
from tests.ray.cluster import RayCluster, RayUnavailable, ray_bin

APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A head on 127.0.0.2 and a worker on 127.0.0.3, Serve's proxy on the head only."""
    try:
        binary = ray_bin()
    except RayUnavailable as exc:
        if in_ci():
            pytest.fail(f"Ray tests cannot run in CI: {exc}", pytrace=False)
        pytest.skip(f"Ray tests skipped: {exc}")
    root = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: socket paths
    cluster = RayCluster(root, ray=binary)
    try:
        cluster.start(workers=1)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A private copy of the test app, so a test may change its files."""
    target = tmp_path / "app"
    shutil.copytree(APPS, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target
