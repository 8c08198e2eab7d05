"""Small helpers for the Ray tests: a service definition and what a user would check."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from plugin_core import RayActorOptions, RayServeService
from tests.ray.cluster import RayCluster


def model_service(
    name: str, cluster: RayCluster, app_dir: Path, *, replicas: int = 1, **config: Any
) -> RayServeService:
    """The test model as a Serve app: small replicas (0.1 CPU), Serve checking every second."""
    return RayServeService.http(
        name, "model_app:app", address=cluster.dashboard_url, working_dir=str(app_dir),
        deployment="Model", num_replicas=replicas,
        ray_actor_options=RayActorOptions(num_cpus=0.1),
        health_check_period_s=1, health_check_timeout_s=5, **config,
    )


def predict(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """A real request to the app through Serve's proxy."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def serve_apps(cluster: RayCluster) -> dict[str, Any]:
    """Serve's own list of applications, straight from the dashboard."""
    with urllib.request.urlopen(f"{cluster.dashboard_url}/api/serve/applications/",
                                timeout=10) as response:
        apps: dict[str, Any] = json.loads(response.read())["applications"]
    return apps


def replica_ids(cluster: RayCluster, app: str) -> set[str]:
    """The ids of the app's RUNNING replicas, as Serve reports them."""
    deployments = serve_apps(cluster)[app]["deployments"]
    return {
        replica["replica_id"]
        for deployment in deployments.values()
        for replica in deployment["replicas"]
        if replica["state"] == "RUNNING"
    }


def eventually(check: Any, timeout: float = 60.0, interval: float = 0.2) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not reached within {timeout}s; last: {last!r}")


class Collected:
    """The lines of ``source`` (a log generator, a process's output), gathered by a thread as
    they come; ``done`` once the source ends by itself."""

    def __init__(self, source: Iterable[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._gather, args=(source,), daemon=True)
        self._thread.start()

    def _gather(self, source: Iterable[str]) -> None:
        for line in source:
            self.lines.append(line.rstrip("\n"))

    def having(self, fragment: str) -> list[str]:
        return [line for line in list(self.lines) if fragment in line]

    def done(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()
