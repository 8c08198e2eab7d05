"""A Prefect flow that trains a small model, serves it, asks it once, and leaves it running.

    pip install 'outlive[prefect]'
    python examples/prefect_deploy_model.py

The flow run ends; the model server does not. Afterwards ``outlive list`` shows
``prefect-model-server`` ACTIVE with its URL, another flow can find it with
``find_services(name="prefect-model-server")``, and ``outlive stop
prefect-model-server`` ends it. Running the flow again reuses the running server
(start is idempotent by name) unless the model changed, which restarts it.

The server definition can also live in Prefect as a block::

    CommandServiceBlock(service_name="prefect-model-server", command=[...]).save("model-server")
    start_service(CommandServiceBlock.load("model-server"))
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import urllib.request
from pathlib import Path
from typing import Any

from prefect import flow, task

from plugin_core import outlive_home
from prefect_ext import CommandServiceBlock, start_service, wait_for_service

MODEL_SERVER = Path(__file__).resolve().with_name("model_server.py")
SERVICE_NAME = "prefect-model-server"


@task
def train_model(seed: int = 7) -> dict[str, Any]:
    """Fit y = w*x + b by least squares on synthetic data from y = 3x + 5 (plus noise)."""
    rng = random.Random(seed)
    xs = [rng.uniform(0, 10) for _ in range(200)]
    ys = [3.0 * x + 5.0 + rng.gauss(0, 0.1) for x in xs]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    var = sum((x - mean_x) ** 2 for x in xs)
    weight = cov / var
    return {"weights": [round(weight, 4)], "bias": round(mean_y - weight * mean_x, 4)}


@task
def save_model(model: dict[str, Any]) -> str:
    """Write the model where the server can always read it: not the flow run's working
    directory, which a worker deletes when the run ends."""
    path = outlive_home() / "models" / "prefect-linear.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model))
    return str(path)


@task
def send_prediction(url: str, features: list[float]) -> float:
    """POST one request to the model server, as a client of the deployed model would."""
    request = urllib.request.Request(
        url, data=json.dumps({"x": features}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return float(json.loads(response.read())["y"])


@flow(name="deploy-model")
def deploy_model() -> dict[str, Any]:
    """Train, serve, check, predict; the server outlives this flow run."""
    model = train_model()
    model_path = save_model(model)
    server = CommandServiceBlock(
        service_name=SERVICE_NAME,
        command=[sys.executable, str(MODEL_SERVER), "--model", model_path, "--port", "{port}"],
        health_path="/health",
        prediction_path="/predict",
        model_name="linear",
        model_version=hashlib.sha256(json.dumps(model).encode()).hexdigest()[:12],
    )
    started = start_service(server, timeout=60)
    ready = wait_for_service(started["name"], timeout=60)
    prediction = send_prediction(ready["prediction_url"], [2.0])
    return {"model": model, "service": ready, "prediction": prediction}


if __name__ == "__main__":
    result = deploy_model()
    service = result["service"]
    print(f"trained: weights={result['model']['weights']} bias={result['model']['bias']}")
    print(f"{service['name']} is {service['state']} at {service['url']}")
    print(f"prediction for x=[2]: {result['prediction']:.3f}  (true value 11.0)")
    print(f"It keeps running after this flow run: stop it with `outlive stop {SERVICE_NAME}`.")
