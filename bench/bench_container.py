"""Start to ACTIVE of a tiny HTTP container: ``ContainerService`` vs the docker SDK by hand.

The baseline is what a careful user writes without outlive: ``containers.run`` (detached,
``init=True``, a port published on 127.0.0.1) and an HTTP GET every 2 ms until it answers
200. Ours is ``start_service`` of a ``ContainerService.http``, which also records the service
in a (SQLite) registry, reserves the port, writes its runtime files and checks the engine's
state before each probe. Trials of the two sides are interleaved and the order flips every
trial (after warm-up trials of each), so engine caches and a noisy moment favour neither.
Target: ours / baseline <= 1.15 on the medians; exits 0 when met, 1 when not.

    python bench/bench_container.py [--runs 21] [--image outlive-base:bookworm]

Needs a running engine and the image (``scripts/docker_engine.sh``,
``python scripts/docker_images.py``).
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

COMMAND = ["python3", "-m", "http.server", "--bind", "0.0.0.0"]
LABEL = "outlive.bench"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        connection.request("GET", "/", headers={"Connection": "close"})
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def baseline_run(client: Any, image: str) -> float:
    """Seconds from ``containers.run`` to the first 200, polling every 2 ms."""
    port = free_port()
    started = time.perf_counter()
    container = client.containers.run(
        image, [*COMMAND, str(port)], detach=True, init=True, labels={LABEL: "baseline"},
        ports={f"{port}/tcp": ("127.0.0.1", port)},
    )
    while not answers(port):
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    container.remove(force=True)
    return elapsed


def outlive_run(image: str, registry: Any) -> float:
    """Seconds from ``start_service`` to its return (the service ACTIVE)."""
    from plugin_core import ContainerService, delete_service, start_service

    service = ContainerService.http(f"bench-{uuid.uuid4().hex[:8]}", image, [*COMMAND, "{port}"])
    started = time.perf_counter()
    started_service = start_service(service, registry=registry, timeout=60)
    elapsed = time.perf_counter() - started
    delete_service(started_service, registry=registry, force=True)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--image", default="outlive-base:bookworm")
    args = parser.parse_args()

    import docker

    from plugin_core import ServiceRegistry

    home = Path(tempfile.mkdtemp(prefix="outlive-bench-"))
    os.environ["OUTLIVE_HOME"] = str(home)
    registry = ServiceRegistry(f"sqlite:///{home / 'registry.db'}")
    client = docker.from_env()
    ours: list[float] = []
    base: list[float] = []
    try:
        for index in range(args.warmup + args.runs):
            if index % 2:
                b, a = outlive_run(args.image, registry), baseline_run(client, args.image)
            else:
                a, b = baseline_run(client, args.image), outlive_run(args.image, registry)
            if index >= args.warmup:
                base.append(a)
                ours.append(b)
    finally:
        for container in client.containers.list(all=True, filters={"label": LABEL}):
            container.remove(force=True)
    return 0 if report(base, ours) else 1


def report(base: list[float], ours: list[float]) -> bool:
    def line(label: str, values: list[float]) -> str:
        ms = sorted(v * 1000 for v in values)
        p90 = ms[max(0, int(len(ms) * 0.9) - 1)]
        return (f"{label:<34} median {statistics.median(ms):7.1f} ms   min {ms[0]:7.1f}   "
                f"p90 {p90:7.1f}   (n={len(ms)})")

    print(line("baseline: containers.run + 2ms GET", base))
    print(line("ours: ContainerService start", ours))
    ratio = statistics.median(ours) / statistics.median(base)
    overhead = (statistics.median(ours) - statistics.median(base)) * 1000
    print(f"ratio (median ours / median baseline): {ratio:.3f}   overhead {overhead:+.1f} ms   "
          f"target <= 1.15: {'met' if ratio <= 1.15 else 'MISSED'}")
    return ratio <= 1.15


if __name__ == "__main__":
    sys.exit(main())
