"""DAG files that import the operators parse fast: the adapter adds only itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.airflow.conftest import SKIP_REASON

pytest.importorskip("airflow.sdk", reason=SKIP_REASON)

from tests.airflow.conftest import HERE, AirflowEnv

HEAVY = (
    "sqlalchemy",
    "requests",
    "docker",
    "httpx",
    "plugin_core.registry",
    "plugin_core.lifecycle",
)


@pytest.mark.integration
def test_operators_and_sensor_add_little_over_airflow_base_classes(airflow_env: AirflowEnv) -> None:
    """Beyond Airflow's base classes, the import adds < 30 ms and no heavy module of ours."""
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, str(HERE / "helpers" / "import_cost.py")],
                env=airflow_env.env,
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout.splitlines()[-1]
        )
        for _ in range(2)
    ]
    new_modules = runs[0]["new_modules"]
    assert not [m for m in new_modules if m.startswith(HEAVY)], new_modules
    assert all(m.startswith(("airflow_ext", "plugin_core")) for m in new_modules), new_modules
    assert min(r["delta_ms"] for r in runs) < 30, runs
