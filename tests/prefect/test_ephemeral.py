"""A flow as a new user first runs it: ``python flow.py`` with no Prefect server configured.

Prefect 3 then starts a temporary (ephemeral) server of its own for the run and stops it at
exit; the model server the flow started must outlive both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import plugin_core as core

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prefect_deploy_model.py"


def test_example_on_the_ephemeral_server_leaves_a_serving_model(
    outlive_home: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),  # no profile, no API URL: ephemeral mode
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # A fresh home: the temporary server creates and migrates its database first, which
        # went past Prefect's default 20 s twice on a loaded 2-core CI machine (two nox lanes).
        # A user on such a machine raises the same setting.
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        OUTLIVE_HOME=str(outlive_home),
    )
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "prediction for x=[2]: 11.0" in output
    assert "temporary server" in output.lower()  # Prefect says it started one for this run

    service = core.get_service("prefect-model-server")
    url = service.get_prediction_url()
    assert service.status.state == core.ServiceState.ACTIVE and url is not None
    request = urllib.request.Request(
        url, data=json.dumps({"x": [1.0]}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert round(json.loads(response.read())["y"]) == 8
