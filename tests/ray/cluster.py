"""A real two-node Ray cluster on this machine, started and stopped by the tests alone.

The head runs on ``127.0.0.2`` and a worker node on ``127.0.0.3`` (Ray replaces
``127.0.0.1`` by the machine's external address, and these two keep every connection on
loopback); the dashboard binds ``127.0.0.1``. Every process of the cluster carries this
cluster's private ``--temp-dir`` in its command line, which is how :meth:`RayCluster.stop`
finds exactly the processes the tests started and kills them by PID (never ``ray stop``,
which kills every Ray process on the machine). Serve is started with its proxy on the head
only, on a free port.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

OBJECT_STORE_BYTES = 100 * 1024 * 1024  # Ray's minimum is 75 MiB; it reserves 30% of RAM otherwise
HEAD_IP = "127.0.0.2"
WORKER_IP = "127.0.0.3"


# How long ``ray start`` waits for its own raylet to register (Ray's config
# ``raylet_start_wait_time_s``, read from ``RAY_<name>``). Its default is made for an idle
# machine; CI runs two nox lanes on two cores, and once a head gave up with "The current node
# timed out during startup" while its processes were still coming up.
RAYLET_START_WAIT_S = "120"
STARTUP_TIMED_OUT = "timed out during startup"


class RayUnavailable(RuntimeError):
    """No ``ray`` command for the cluster on this machine."""


class RayStartTimedOut(RuntimeError):
    """A node's ``ray start`` gave up while its own processes were starting (Ray's message
    "The current node timed out during startup"): the machine was slow, the cluster is not
    broken, and a fresh start may succeed."""


def ray_bin() -> Path:
    """The cluster's ``ray`` command: ``$OUTLIVE_RAY_BIN``, next to this Python (a nox
    session installs ``ray[serve]`` into its venv), or on ``PATH``."""
    configured = os.environ.get("OUTLIVE_RAY_BIN")
    candidates = [configured] if configured else [
        str(Path(sys.executable).with_name("ray")), shutil.which("ray") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise RayUnavailable(
        "no `ray` command: install 'ray[serve]' (into this venv, or a separate one and set "
        "OUTLIVE_RAY_BIN=/path/to/venv/bin/ray)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _node_ports() -> list[str]:
    return [
        "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
        "--metrics-export-port", str(free_port()), "--runtime-env-agent-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()),
        "--dashboard-agent-grpc-port", str(free_port()),
    ]


def http_json(method: str, url: str, body: object | None = None, timeout: float = 10.0) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read().decode()
    return json.loads(text) if text else None


@dataclass
class RayNode:
    """One ``ray start --block`` process and the node it runs."""

    ip: str
    temp_dir: Path
    launcher: subprocess.Popen[bytes]
    log: Path

    def processes(self) -> list[psutil.Process]:
        """Every process of this node: the launcher and all that carry its temp dir."""
        marker = str(self.temp_dir)
        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if marker in cmdline:
                found[proc.pid] = proc
        if self.launcher.poll() is None:
            found[self.launcher.pid] = psutil.Process(self.launcher.pid)
            for child in found[self.launcher.pid].children(recursive=True):
                found[child.pid] = child
        return list(found.values())

    def raylet(self) -> psutil.Process:
        for proc in self.processes():
            if proc.name() == "raylet":
                return proc
        raise AssertionError(f"no raylet for node {self.ip}")

    def kill(self) -> None:
        """SIGKILL the raylet first (it restarts nothing then), then everything else."""
        procs = self.processes()
        procs.sort(key=lambda p: 0 if p.name() == "raylet" else 1)
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)
        self.launcher.wait(timeout=10)


@dataclass
class RayCluster:
    """A head (with dashboard and Serve) and worker nodes, all on loopback."""

    root: Path
    ray: Path = field(default_factory=ray_bin)
    gcs_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    serve_port: int = field(default_factory=free_port)
    nodes: list[RayNode] = field(default_factory=list)
    _launched: int = 0

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}"

    def _launch(self, ip: str, name: str, args: list[str]) -> RayNode:
        temp_dir = self.root / name  # short: Ray's socket paths must stay under 107 bytes
        temp_dir.mkdir(parents=True, exist_ok=True)
        log = self.root / f"{name}.out"
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0",
               "RAY_raylet_start_wait_time_s": RAYLET_START_WAIT_S}
        env.pop("RAY_ADDRESS", None)
        with open(log, "wb") as out:
            launcher = subprocess.Popen(
                [str(self.ray), "start", "--block", "--disable-usage-stats",
                 "--node-ip-address", ip, "--temp-dir", str(temp_dir),
                 "--object-store-memory", str(OBJECT_STORE_BYTES), "--num-cpus", "2",
                 *_node_ports(), *args],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        node = RayNode(ip, temp_dir, launcher, log)
        self.nodes.append(node)
        return node

    def start(self, workers: int = 1, timeout: float = 120.0) -> RayCluster:
        self._launch(HEAD_IP, "head", [
            "--head", "--port", str(self.gcs_port), "--include-dashboard", "true",
            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port),
            "--ray-client-server-port", str(free_port()),
        ])
        self._wait(lambda: str(self.root / "head") in self._alive_temp_dirs(), timeout,
                   "the head node")
        for _ in range(workers):
            self.add_worker(timeout)
        self.start_serve(timeout)
        return self

    def add_worker(self, timeout: float = 120.0) -> RayNode:
        self._launched += 1
        node = self._launch(WORKER_IP, f"w{self._launched}",
                            ["--address", f"{HEAD_IP}:{self.gcs_port}"])
        self._wait(lambda: str(node.temp_dir) in self._alive_temp_dirs(), timeout,
                   f"worker {node.temp_dir.name}")
        return node

    def start_serve(self, timeout: float = 120.0) -> None:
        """Serve's first start fixes its HTTP options: proxy on the head only, on our port."""
        http_json("PUT", f"{self.dashboard_url}/api/serve/applications/", {
            "proxy_location": "HeadOnly",
            "http_options": {"host": "127.0.0.1", "port": self.serve_port},
            "applications": [],
        }, timeout=60)
        self._wait(self._serve_up, timeout, "Serve's controller and proxy")

    def _serve_up(self) -> bool:
        try:
            state = http_json("GET", f"{self.dashboard_url}/api/serve/applications/")
        except OSError:
            return False
        assert isinstance(state, dict)
        proxies = state.get("proxies") or {}
        return any(p.get("status") == "HEALTHY" for p in proxies.values())

    def _alive_temp_dirs(self) -> set[str]:
        """The temp dirs of the nodes the head counts as ALIVE (each node has its own)."""
        try:
            answer = http_json("GET", f"{self.dashboard_url}/nodes?view=summary", timeout=5)
        except OSError:
            return set()
        assert isinstance(answer, dict)
        summary = answer.get("data", {}).get("summary", [])
        return {node["raylet"].get("tempDir", "") for node in summary
                if node.get("raylet", {}).get("state") == "ALIVE"}

    def _wait(self, ready: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():  # type: ignore[operator]
                return
            for node in self.nodes:
                if node.launcher.poll() is not None:
                    output = node.log.read_text()[-3000:]
                    failure = RayStartTimedOut if STARTUP_TIMED_OUT in output else RuntimeError
                    raise failure(f"ray start for {node.ip} exited:\n{output}")
            time.sleep(0.5)
        raise TimeoutError(f"{what} not up within {timeout}s")

    def stop(self) -> None:
        """Kill exactly this cluster's processes: workers first, then the head."""
        for node in reversed(self.nodes):
            node.kill()
