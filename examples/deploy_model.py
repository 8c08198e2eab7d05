"""Train a small model, serve it as a service that outlives this script, and ask it one question.

    python examples/deploy_model.py

Then ``outlive list`` shows ``model-server`` ACTIVE with its URL; ``outlive stop model-server``
ends it. Running the script again reuses the running server (start is idempotent by name)
unless the model changed, in which case the server is restarted with the new model.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import urllib.request
from pathlib import Path

from plugin_core import CommandService, ServiceState, outlive_home

HERE = Path(__file__).resolve().parent


def train(seed: int = 7) -> dict[str, object]:
    """Fit y = w.x + b by least squares (normal equations, two features) on synthetic data."""
    rng = random.Random(seed)
    rows = [(rng.uniform(0, 10), rng.uniform(0, 10)) for _ in range(200)]
    ys = [3.0 * a - 2.0 * b + 5.0 + rng.gauss(0, 0.1) for a, b in rows]
    # Centre the data, solve the 2x2 system for the weights, then recover the bias.
    n = len(rows)
    ma, mb, my = sum(r[0] for r in rows) / n, sum(r[1] for r in rows) / n, sum(ys) / n
    saa = sum((a - ma) ** 2 for a, _ in rows)
    sbb = sum((b - mb) ** 2 for _, b in rows)
    sab = sum((a - ma) * (b - mb) for a, b in rows)
    say = sum((a - ma) * (y - my) for (a, _), y in zip(rows, ys, strict=True))
    sby = sum((b - mb) * (y - my) for (_, b), y in zip(rows, ys, strict=True))
    det = saa * sbb - sab * sab
    wa, wb = (say * sbb - sby * sab) / det, (sby * saa - say * sab) / det
    return {"weights": [round(wa, 4), round(wb, 4)], "bias": round(my - wa * ma - wb * mb, 4)}


def deploy(model: dict[str, object]) -> CommandService:
    """Save the model where the service can always read it, then start (or reuse) the server."""
    model_path = outlive_home() / "models" / "linear.json"
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_text(json.dumps(model))
    service = CommandService.http(
        "model-server",
        [sys.executable, str(HERE / "model_server.py"), "--model", str(model_path), "--port", "{port}"],
        health_path="/health",
        prediction_path="/predict",
        model_name="linear",
        model_version=hashlib.sha256(json.dumps(model).encode()).hexdigest()[:12],
    )
    service.start(timeout=60)
    return service


def predict(url: str, features: list[float]) -> float:
    request = urllib.request.Request(
        url, data=json.dumps({"x": features}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return float(json.loads(response.read())["y"])


def main() -> None:
    model = train()
    print(f"trained: weights={model['weights']} bias={model['bias']}")
    service = deploy(model)
    assert service.status.state == ServiceState.ACTIVE
    url = service.get_prediction_url() or ""
    print(f"model-server is {service.status.state.value} at {url}")
    print(f"prediction for x=[1, 2]: {predict(url, [1.0, 2.0]):.3f}  (true value 4.0)")
    print("It keeps running after this script ends: see `outlive list`, stop with `outlive stop model-server`.")


if __name__ == "__main__":
    main()
