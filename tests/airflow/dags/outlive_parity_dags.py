"""The DAG of tests/airflow/test_operator_parity.py: a deferrable start, the sensor's link,
hook methods in a @task, delete and prune operators, and the `outlive_default` fallback.

No task names a connection: `outlive_default` is not defined in the test Airflow, so every
task falls back to the core default registry (``OUTLIVE_REGISTRY_URL``, set by the tests).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, chain, task

from airflow_ext.hooks import OutliveRegistryHook
from airflow_ext.operators import (
    DeleteServiceOperator,
    PruneServicesOperator,
    StartServiceOperator,
    StopServiceOperator,
)
from airflow_ext.sensors import ServiceActiveSensor

HELPER = str(Path(__file__).resolve().parents[1] / "helpers" / "flaky_server.py")
PY = sys.executable


def http_server(name: str) -> dict[str, Any]:
    return {
        "type": "command",
        "config": {
            "name": name,
            "command": [PY, "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
        },
        "endpoint": {"protocol": "http", "health": "/"},
    }


SLOW = {
    "type": "command",
    "config": {"name": "parity-deferred", "command": [PY, HELPER, "{port}", "--ready-after", "3"]},
    "endpoint": {"protocol": "http", "health": "/"},
}


@task
def hook_round_trip() -> dict[str, Any]:
    """What a user's @task does with the hook: start, look, stop."""
    hook = OutliveRegistryHook()
    started = hook.start_service(http_server("parity-hooked"), timeout=30)
    seen = hook.get_service("parity-hooked")
    stopped = hook.stop_service("parity-hooked")
    return {"started": started, "seen": seen, "stopped": stopped}


with DAG("outlive_parity", schedule=None, default_args={"retries": 0}) as parity:
    chain(
        StartServiceOperator(
            task_id="start_deferred", service=SLOW, deferrable=True, start_timeout=60
        ),
        ServiceActiveSensor(
            task_id="wait_linked", service_name="parity-deferred", poke_interval=0.5, timeout=30
        ),
        StartServiceOperator(task_id="start_again", service=SLOW),
        hook_round_trip(),
        DeleteServiceOperator(task_id="delete_hooked", service_name="parity-hooked"),
        DeleteServiceOperator(
            task_id="delete_missing", service_name="never-started", ignore_missing=True
        ),
        StartServiceOperator(task_id="start_pruned", service=http_server("parity-pruned")),
        StopServiceOperator(task_id="stop_pruned", service_name="parity-pruned"),
        PruneServicesOperator(task_id="prune_preview", dry_run=True),
    )
