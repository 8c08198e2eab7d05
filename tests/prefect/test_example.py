"""The Prefect example runs as a user runs it, and its model server outlives the flow run."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import plugin_core as core

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prefect_deploy_model.py"


def test_deploy_model_example_leaves_a_serving_model(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    """`python examples/prefect_deploy_model.py` predicts once, exits, and the server still predicts."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        env=run_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "prediction for x=[2]: 11.0" in result.stdout

    service = core.get_service("prefect-model-server")
    url = service.get_prediction_url()
    assert service.status.state == core.ServiceState.ACTIVE and url is not None
    request = urllib.request.Request(
        url, data=json.dumps({"x": [1.0]}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert round(json.loads(response.read())["y"]) == 8
