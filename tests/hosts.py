"""Simulated hosts for cross-host tests: each one a PID, mount and UTS namespace of its own.

``SimulatedHost("host-a", home, registry_url)`` runs ``unshare --pid --fork --mount-proc --uts``
with a fresh ``/proc`` and its own host name, so processes launched there are invisible to
every other host (and to the test process), exactly as on another machine; each host has its
own ``OUTLIVE_HOME`` and reaches the shared PostgreSQL server on loopback. Host identity comes
from the real kernel (boot id, PID namespace) and the host name: no test hook in outlive.

Inside, this module runs as an agent (the namespace's PID 1, so the host's processes end with
it) that executes Python snippets sent as JSON lines, either itself or fanned out to
``callers`` persistent worker processes: separate processes, like pipeline steps, ready
before a race starts so that interpreter start-up does not spread the callers out.

A snippet sees ``args`` (the call's keyword arguments) and sets ``result`` (JSON-able); the
agent keeps one namespace per process, so a snippet can hold objects for a later one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
REPO_ENV = "OUTLIVE_TEST_REPO"
# The checkout goes at the end of sys.path, so a host runs the outlive its venv has installed
# (the wheel, in CI) and only finds the ``tests`` package in the checkout.
RUN_HOSTS = (
    "import os, runpy, sys; sys.path.append(os.environ['OUTLIVE_TEST_REPO']); "
    "runpy.run_module('tests.hosts', run_name='__main__')"
)


class HostCallError(Exception):
    """A snippet raised on a simulated host: its class name, message and facts."""

    def __init__(self, kind: str, message: str, attrs: dict[str, Any]) -> None:
        self.kind = kind
        self.message = message
        self.attrs = attrs
        super().__init__(f"{kind}: {message}")


def unshare_available() -> str:
    """Why hosts cannot be simulated here, or "" if they can."""
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "--uts", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"cannot create PID/mount/UTS namespaces here: {probe.stderr.strip()}"
    return ""


class SimulatedHost:
    """One simulated machine; use as a context manager (leaving it ends all its processes)."""

    def __init__(self, name: str, home: Path, registry_url: str, *, callers: int = 0) -> None:
        self.name = name
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("OUTLIVE_", "PYTEST_"))
        }
        env.update(OUTLIVE_HOME=str(home), OUTLIVE_REGISTRY_URL=registry_url)
        env[REPO_ENV] = str(REPO)
        script = 'hostname "$0" && exec "$1" -c "$2" --agent "$3"'
        self._process = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "--uts", "--kill-child",
             "sh", "-c", script, name, sys.executable, RUN_HOSTS, str(callers)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=str(home), text=True,
        )  # fmt: skip
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"host-{name}")
        self.run("result = 'ready'")

    def __enter__(self) -> SimulatedHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, code: str, **args: Any) -> Any:
        """Run ``code`` in the host's agent process; its ``result``, or raise HostCallError."""
        return self._call({"op": "run", "code": code, "args": args})

    def fan_out(self, code: str, **args: Any) -> list[Any]:
        """Run ``code`` in every caller process at once; one outcome per caller: its ``result``
        or ``{"error": kind, "message": ..., "attrs": ...}``."""
        result: list[Any] = self._call({"op": "fan_out", "code": code, "args": args})
        return result

    def fan_out_async(self, code: str, **args: Any) -> Future[list[Any]]:
        return self._pool.submit(self.fan_out, code, **args)

    def _call(self, request: dict[str, Any]) -> Any:
        with self._lock:
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"simulated host {self.name} ended (exit {self._process.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise HostCallError(reply["error"], reply["message"], reply.get("attrs", {}))
        return reply["ok"]

    def close(self) -> None:
        """End the host: its PID 1 exits, and the kernel kills every process it had."""
        self._pool.shutdown(wait=True)
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


# -- inside the host ------------------------------------------------------------------------------


def _execute(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    namespace["args"] = request.get("args", {})
    namespace.pop("result", None)
    try:
        exec(request["code"], namespace)
    except Exception as exc:
        attrs = {
            key: value
            for key, value in vars(exc).items()
            if isinstance(value, (str, int, float, bool, type(None)))
        }
        return {"error": type(exc).__name__, "message": str(exc), "attrs": attrs}
    return {"ok": namespace.get("result")}


def _serve(requests: IO[str], replies: IO[str], handle: Any) -> None:
    for line in requests:
        replies.write(json.dumps(handle(json.loads(line))) + "\n")
        replies.flush()


def _caller_main() -> None:
    namespace: dict[str, Any] = {"__name__": "__host_caller__"}
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # stray prints must not corrupt the protocol
    _serve(sys.stdin, replies, lambda request: _execute(request, namespace))


def _agent_main(callers: int) -> None:
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_HOSTS, "--caller"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for _ in range(callers)
    ]
    namespace: dict[str, Any] = {"__name__": "__host_agent__"}

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        if request["op"] == "run":
            return _execute(request, namespace)
        line = json.dumps({"op": "run", "code": request["code"], "args": request["args"]}) + "\n"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(line)
            worker.stdin.flush()
        outcomes = []
        for worker in workers:
            assert worker.stdout is not None
            reply = json.loads(worker.stdout.readline())
            outcomes.append(reply.get("ok", reply))
        return {"ok": outcomes}

    _serve(sys.stdin, replies, handle)


if __name__ == "__main__":
    if sys.argv[1] == "--agent":
        _agent_main(int(sys.argv[2]))
    else:
        _caller_main()
