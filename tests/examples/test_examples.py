"""The runnable examples, run as a user runs them: a fresh process, then a look at what they left.

Examples that need an extra are tested with that extra's tests (tests/workflow, tests/prefect,
tests/airflow), where nox installs it; these need only the core.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from plugin_core import ServiceState, get_service, stop_service

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def run_example(name: str, outlive_home: Path) -> str:
    env = {**os.environ, "OUTLIVE_HOME": str(outlive_home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True, text=True, env=env, timeout=180, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_deploy_model_leaves_a_serving_model_behind(outlive_home: Path) -> None:
    """The README's main job: the model server is ACTIVE after the script ends and predicts."""
    out = run_example("deploy_model.py", outlive_home)
    assert "model-server is active at http://127.0.0.1:" in out
    service = get_service("model-server")
    assert service.status.state == ServiceState.ACTIVE
    request = urllib.request.Request(
        service.get_prediction_url() or "", data=json.dumps({"x": [0, 0]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert abs(json.loads(response.read())["y"] - 5.0) < 0.1
    again = run_example("deploy_model.py", outlive_home)
    assert get_service("model-server").status.pid == service.status.pid, "a rerun reuses the server"
    assert "active" in again
    stop_service("model-server")
