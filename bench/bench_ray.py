"""Start to ACTIVE of a trivial Serve app: ``RayServeService`` vs a hand-written PUT + poll.

Both sides deploy the same application (the test model, one replica with 0.1 CPU, its code
already uploaded as a package) to the same real Ray cluster started here (a head on
127.0.0.2, dashboard on 127.0.0.1, Serve's proxy on the head; stopped by PID at the end).
The baseline is what a careful user writes without outlive: GET the config, add the app,
PUT it back, then GET the app's route every 20 ms until it answers 200. Ours is
``start_service`` of ``RayServeService.http``, which also records the service in a (SQLite)
registry, holds the registry's claim around the read-modify-write, checks the package, and
waits until Serve says RUNNING *and* the route answers. Each trial deploys a fresh app name
and removes it afterwards; the sides alternate and the order flips every trial (after
warm-up trials), so a noisy moment favours neither. Target: ours / baseline <= 1.15 on the
medians; exits 0 when met, 1 when not. Also prints the cluster's memory (USS/PSS).

    OUTLIVE_RAY_BIN=/path/to/venv/bin/ray python bench/bench_ray.py [--runs 7]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from tests.ray.cluster import RayCluster  # noqa: E402

APPS = ROOT / "tests" / "ray" / "apps"


def request(method: str, url: str, body: object | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else None


def answers(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def app_entry(name: str, package: str) -> dict[str, Any]:
    return {
        "name": name, "import_path": "model_app:app", "route_prefix": f"/{name}",
        "runtime_env": {"working_dir": package},
        "deployments": [{"name": "Model", "num_replicas": 1,
                         "ray_actor_options": {"num_cpus": 0.1}}],
    }


def config_without(cluster: RayCluster, name: str | None) -> dict[str, Any]:
    state = request("GET", f"{cluster.dashboard_url}/api/serve/applications/")
    apps = [a["deployed_app_config"] for n, a in state["applications"].items()
            if n != name and a.get("source") == "declarative"]
    return {"proxy_location": state["proxy_location"], "http_options": state["http_options"],
            "applications": apps}


def remove(cluster: RayCluster, name: str) -> None:
    request("PUT", f"{cluster.dashboard_url}/api/serve/applications/",
            config_without(cluster, name))
    while name in request("GET", f"{cluster.dashboard_url}/api/serve/applications/")["applications"]:
        time.sleep(0.1)


def baseline_run(cluster: RayCluster, name: str, package: str) -> float:
    """Seconds from the GET of the config to the first 200 on the route, polling every 20 ms."""
    started = time.perf_counter()
    config = config_without(cluster, None)
    config["applications"].append(app_entry(name, package))
    request("PUT", f"{cluster.dashboard_url}/api/serve/applications/", config)
    while not answers(cluster.serve_port, f"/{name}"):
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    remove(cluster, name)
    return elapsed


def outlive_run(cluster: RayCluster, name: str, registry: Any) -> float:
    """Seconds from ``start_service`` to its return (the service ACTIVE)."""
    from plugin_core import RayActorOptions, RayServeService, delete_service, start_service

    service = RayServeService.http(
        name, "model_app:app", address=cluster.dashboard_url, working_dir=str(APPS),
        deployment="Model", num_replicas=1, ray_actor_options=RayActorOptions(num_cpus=0.1),
    )
    started = time.perf_counter()
    started_service = start_service(service, registry=registry, timeout=120)
    elapsed = time.perf_counter() - started
    delete_service(started_service, registry=registry)
    return elapsed


def cluster_memory(cluster: RayCluster) -> str:
    uss = pss = 0
    count = 0
    for node in cluster.nodes:
        for proc in node.processes():
            try:
                info = proc.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):  # it just ended
                continue
            uss += info.uss
            pss += getattr(info, "pss", 0)
            count += 1
    return f"cluster memory: USS {uss / 2**30:.2f} GiB, PSS {pss / 2**30:.2f} GiB ({count} processes)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()

    from plugin_core import ServiceRegistry
    from plugin_core.backends._serve_api import ServeApi, package_directory

    home = Path(tempfile.mkdtemp(prefix="outlive-bench-"))
    os.environ["OUTLIVE_HOME"] = str(home)
    registry = ServiceRegistry(f"sqlite:///{home / 'registry.db'}")
    root = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    cluster = RayCluster(root)
    ours: list[float] = []
    base: list[float] = []
    try:
        began = time.perf_counter()
        cluster.start(workers=0)
        print(f"cluster (head + Serve) up in {time.perf_counter() - began:.1f}s")
        package = ServeApi(cluster.dashboard_url, "bench").ensure_package(
            *package_directory(APPS))
        for index in range(args.warmup + args.runs):
            a_name, b_name = f"base-{index}", f"ours-{index}"
            if index % 2:
                b = outlive_run(cluster, b_name, registry)
                a = baseline_run(cluster, a_name, package)
            else:
                a = baseline_run(cluster, a_name, package)
                b = outlive_run(cluster, b_name, registry)
            print(f"trial {index}: baseline {a * 1000:7.0f} ms   ours {b * 1000:7.0f} ms",
                  flush=True)
            if index >= args.warmup:
                base.append(a)
                ours.append(b)
        print(cluster_memory(cluster))
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0 if report(base, ours) else 1


def report(base: list[float], ours: list[float]) -> bool:
    def line(label: str, values: list[float]) -> str:
        ms = sorted(v * 1000 for v in values)
        return (f"{label:<34} median {statistics.median(ms):7.0f} ms   min {ms[0]:7.0f}   "
                f"max {ms[-1]:7.0f}   (n={len(ms)})")

    print(line("baseline: PUT + 20ms GET of route", base))
    print(line("ours: RayServeService start", ours))
    ratio = statistics.median(ours) / statistics.median(base)
    overhead = (statistics.median(ours) - statistics.median(base)) * 1000
    print(f"ratio (median ours / median baseline): {ratio:.3f}   overhead {overhead:+.0f} ms   "
          f"target <= 1.15: {'met' if ratio <= 1.15 else 'MISSED'}")
    return ratio <= 1.15


if __name__ == "__main__":
    sys.exit(main())
