"""A tiny model server (standard library only): the service the deployment examples start.

    python model_server.py --model model.json --port 8000 [--warmup 2]

``model.json`` holds a linear model ``{"weights": [w1, ...], "bias": b}``.
GET /health answers 200 once the model is loaded (``--warmup`` simulates a slow load);
POST /predict with ``{"x": [x1, ...]}`` answers ``{"y": w.x + b}``.
"""

from __future__ import annotations

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def load_model(path: str) -> dict[str, Any]:
    model = json.loads(Path(path).read_text())
    if not isinstance(model.get("weights"), list) or "bias" not in model:
        raise SystemExit(f"{path}: expected {{'weights': [...], 'bias': ...}}")
    return model


def predict(model: dict[str, Any], x: list[float]) -> float:
    weights = model["weights"]
    if len(x) != len(weights):
        raise ValueError(f"expected {len(weights)} features, got {len(x)}")
    return sum(w * v for w, v in zip(weights, x, strict=True)) + float(model["bias"])


def make_handler(model: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in ("/", "/health"):
                self._reply(200, {"status": "ok", "features": len(model["weights"])})
            else:
                self._reply(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            if self.path != "/predict":
                self._reply(404, {"error": f"no route {self.path}"})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self._reply(200, {"y": predict(model, [float(v) for v in body["x"]])})
            except (ValueError, KeyError, TypeError) as exc:
                self._reply(400, {"error": str(exc)})

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds to 'load' the model")
    args = parser.parse_args()
    model = load_model(args.model)
    time.sleep(args.warmup)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(model))
    print(f"serving {args.model} on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
