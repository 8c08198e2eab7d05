"""Train a model, deploy it as a service that outlives the DAG run, and query it once.

    train  >>  start_model_server  >>  wait_until_serving (deferrable)  >>  predict_once

``start_model_server`` launches ``examples/model_server.py`` as an outlive ``CommandService``
and returns at once; ``wait_until_serving`` waits for its health check in the triggerer, so
no worker slot is held while the model loads. When the run ends the server keeps serving:
find it with ``outlive status linear-model`` and stop it with ``outlive stop linear-model``
(or a ``StopServiceOperator``). Running the DAG again reuses the running server when the
model is unchanged and restarts it when the model changed.

Try it:  ``airflow dags test airflow_deploy_model``  (a triggerer is needed in a deployment:
``airflow standalone`` runs one).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from airflow.sdk import dag, task

from airflow_ext.operators import StartServiceOperator
from airflow_ext.sensors import ServiceActiveSensor

SERVICE_NAME = "linear-model"
SERVER_SCRIPT = Path(__file__).resolve().with_name("model_server.py")
WORK_DIR = Path(
    os.environ.get("OUTLIVE_EXAMPLE_DIR", Path(tempfile.gettempdir()) / "outlive-example")
)


@dag(schedule=None, catchup=False, tags=["outlive", "example"])
def airflow_deploy_model() -> None:
    @task
    def train() -> str:
        """Fit y = a*x + b by least squares and save it as JSON (stands in for real training)."""
        xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        ys = [1.1, 2.9, 5.2, 7.1, 8.8, 11.0]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
            (x - mean_x) ** 2 for x in xs
        )
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        model_path = WORK_DIR / "model.json"
        model_path.write_text(json.dumps({"weights": [slope], "bias": mean_y - slope * mean_x}))
        return str(model_path)

    start = StartServiceOperator(
        task_id="start_model_server",
        service={
            "type": "command",
            "config": {
                "name": SERVICE_NAME,
                "model_name": "linear",
                "command": [
                    sys.executable,
                    str(SERVER_SCRIPT),
                    "--model",
                    "{{ ti.xcom_pull(task_ids='train') }}",
                    "--port",
                    "{port}",
                    "--warmup",
                    "2",
                ],
            },
            "endpoint": {"protocol": "http", "health": "/health"},
        },
        wait_for_active=False,
    )

    wait = ServiceActiveSensor(
        task_id="wait_until_serving",
        service_name=SERVICE_NAME,
        deferrable=True,
        poke_interval=2,
        timeout=120,
    )

    @task
    def predict_once(service: dict[str, Any]) -> float:
        """One request against the live server, as a smoke test of the deployment."""
        request = urllib.request.Request(
            f"{service['url']}/predict",
            data=json.dumps({"x": [10.0]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            y = float(json.load(response)["y"])
        print(f"prediction for x=10: {y:.3f} (served by {service['url']})")
        return y

    train() >> start >> wait
    predict_once(wait.output)


airflow_deploy_model()
