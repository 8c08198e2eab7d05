"""Memory of the Ray test cluster: the head and worker the tests start (tests/ray/cluster.py).

Starts the same two-node cluster as tests/ray/conftest.py (head on 127.0.0.2, one worker on
127.0.0.3, Serve's proxy on the head), prints the USS and PSS summed over every process of
both nodes (found by their private temp dirs, as the tests stop them), idle and then with the
test model deployed as the orchestrator tests deploy it (two replicas of 0.1 CPU), and stops
exactly those processes by PID.

    OUTLIVE_RAY_BIN=/path/to/venv/bin/ray python bench/ray_cluster_memory.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_ray import APPS, cluster_memory  # noqa: E402
from tests.ray.cluster import RayCluster  # noqa: E402


def main() -> int:
    from plugin_core import RayActorOptions, RayServeService, ServiceRegistry, start_service

    home = Path(tempfile.mkdtemp(prefix="outlive-bench-"))
    os.environ["OUTLIVE_HOME"] = str(home)
    root = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    cluster = RayCluster(root)
    try:
        cluster.start(workers=1)
        print(f"idle (head + worker + Serve): {cluster_memory(cluster)}")
        model = RayServeService.http(
            "memory-model", "model_app:app", address=cluster.dashboard_url,
            working_dir=str(APPS), deployment="Model", num_replicas=2,
            ray_actor_options=RayActorOptions(num_cpus=0.1),
        )
        start_service(model, registry=ServiceRegistry(f"sqlite:///{home / 'registry.db'}"),
                      timeout=180)
        print(f"with the test model (2 replicas): {cluster_memory(cluster)}")
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
