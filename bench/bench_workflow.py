"""Workflow service benchmark: outlive's WorkflowService against llama_deploy 0.5.1's.

Both serve the same trivial llama-index ``Workflow`` (one step, no work) with
``max_concurrent_tasks=8`` over loopback; the client runs in a second process
and keeps ``--concurrency`` tasks in flight, each submitted and awaited as its
library's own client does it. Reported per row: throughput (tasks/s) and
p50/p99 latency of one task (submit to result).

llama_deploy needs llama-index, which does not belong in outlive's dev venv, so
this script builds its own venv (``$OUTLIVE_BENCH_LLAMA_VENV``, default
``.cache/bench-llama-deploy-0.5.1``) with pinned packages, and runs there both
llama_deploy (control plane + SimpleMessageQueue + WorkflowService, the
documented ``deploy_core``/``deploy_workflow`` set-up) and outlive's server
serving the very same Workflow class (outlive imported from this checkout).
A last row serves a plain ``async def`` from the dev venv, outlive's usual case.

    .venv/bin/python bench/bench_workflow.py            # everything, ~2 minutes
    .venv/bin/python bench/bench_workflow.py --skip-llama
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(
    os.environ.get("OUTLIVE_BENCH_LLAMA_VENV", ROOT / ".cache" / "bench-llama-deploy-0.5.1")
)
LLAMA_PINS = ["llama-deploy==0.5.1", "llama-index-core==0.12.52.post1"]
OUTLIVE_RUNTIME_DEPS = ["psutil>=5.9", "click>=8.1", "rich>=13", "alembic>=1.13"]  # the rest llama brings

FLOW_MODULE = '''
from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step


class TrivialFlow(Workflow):
    """One step, no work: the benchmark measures the serving machinery."""

    def __init__(self) -> None:
        super().__init__(timeout=60)

    @step
    async def answer(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=ev.get("index", 0))
'''

PLAIN_MODULE = '''
async def trivial(index: int = 0) -> int:
    """The same work as TrivialFlow, as a plain coroutine."""
    return index
'''

LLAMA_CORE = """
import asyncio, sys
from llama_deploy import ControlPlaneConfig, SimpleMessageQueueConfig, deploy_core
asyncio.run(deploy_core(
    ControlPlaneConfig(host="127.0.0.1", port=int(sys.argv[1])),
    SimpleMessageQueueConfig(host="127.0.0.1", port=int(sys.argv[2])),
))
"""

LLAMA_SERVICE = """
import asyncio, sys
from llama_deploy import ControlPlaneConfig, WorkflowServiceConfig, deploy_workflow
from bench_flow import TrivialFlow
asyncio.run(deploy_workflow(
    TrivialFlow(),
    WorkflowServiceConfig(host="127.0.0.1", port=int(sys.argv[2]), service_name="trivial",
                          max_concurrent_tasks=8),
    ControlPlaneConfig(host="127.0.0.1", port=int(sys.argv[1])),
))
"""

LLAMA_CLIENT = """
import asyncio, json, sys, time
from llama_deploy import Client

async def main(url, tasks, concurrency, warmup, poll):
    client = Client(control_plane_url=url, poll_interval=poll, timeout=300)
    sessions = [await client.core.sessions.create() for _ in range(concurrency)]
    latencies = []

    async def lane(session, count, keep):
        for i in range(count):
            started = time.perf_counter()
            result = await session.run("trivial", index=i)
            assert result == str(i), result
            if keep:
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(lane(s, max(1, warmup // concurrency), False) for s in sessions))
    began = time.perf_counter()
    await asyncio.gather(*(lane(s, tasks // concurrency, True) for s in sessions))
    print(json.dumps({"elapsed": time.perf_counter() - began, "latencies": latencies}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                 float(sys.argv[5])))
"""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def ensure_llama_venv() -> Path:
    """Create the llama_deploy venv once (pinned), and return its python."""
    python = VENV / "bin" / "python"
    marker = VENV / ".outlive-bench-ready"
    if marker.exists() and marker.read_text() == " ".join(LLAMA_PINS + OUTLIVE_RUNTIME_DEPS):
        return python
    print(f"installing llama_deploy 0.5.1 into {VENV} (one time, about a minute)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-qq", *LLAMA_PINS, *OUTLIVE_RUNTIME_DEPS]
    subprocess.run(pip, check=True)
    marker.write_text(" ".join(LLAMA_PINS + OUTLIVE_RUNTIME_DEPS))
    return python


def wait_http(url: str, accept: Any = None, timeout: float = 120.0) -> None:
    """Poll ``url`` (with the core's waiting loop) until it answers 200 and ``accept(body)``."""
    import httpx

    from plugin_core import ProbePolicy, wait_until

    def check() -> bool | None:
        try:
            answer = httpx.get(url, timeout=2)
        except httpx.TransportError:
            return None
        ok = answer.status_code == 200 and (accept is None or accept(answer.text))
        return True if ok else None

    policy = ProbePolicy(initial_interval=0.05, period=0.5)
    if wait_until(check, timeout=timeout, policy=policy) is None:
        raise RuntimeError(f"{url} did not become ready within {timeout:g}s")


def spawn(
    argv: list[str], env: dict[str, str], workdir: Path, log_name: str
) -> subprocess.Popen[bytes]:
    """A server process whose output goes to a log file in ``workdir``."""
    log = open(workdir / log_name, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(argv, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the servers this benchmark started, then wait for them."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def run_client(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run a client process and read its one JSON line."""
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"client failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def summarise(label: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Throughput and latency percentiles of one run."""
    latencies = sorted(raw["latencies"])
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "label": label,
        "tasks": len(latencies),
        "throughput": len(latencies) / raw["elapsed"],
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
    }


def report(label: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Summarise a run and print it at once, so a long benchmark shows progress."""
    row = summarise(label, raw)
    print(f"  {label}: {row['throughput']:.1f} tasks/s, p99 {row['p99_ms']:.1f} ms", flush=True)
    return row


def bench_outlive(
    python: str, workflow: str, queue: str, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    """Serve ``workflow`` with outlive (``python -m plugin_core.workflow``) and load it."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(workdir)]),
        OUTLIVE_HOME=str(workdir / f"home-{port}"),
        OUTLIVE_WORKFLOW_NAME="bench",
        OUTLIVE_WORKFLOW_WORKFLOW=workflow,
        OUTLIVE_WORKFLOW_PORT=str(port),
        OUTLIVE_WORKFLOW_MAX_CONCURRENT_TASKS="8",
        OUTLIVE_WORKFLOW_MAX_QUEUED_TASKS="4096",
        OUTLIVE_WORKFLOW_QUEUE_URL=queue,
    )
    server = spawn([python, "-m", "plugin_core.workflow"], env, workdir, f"outlive-{port}.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/readyz")
        argv = [
            sys.executable,
            __file__,
            "--client",
            url,
            "--tasks",
            str(args.tasks),
            "--concurrency",
            str(args.concurrency),
        ]
        raw = run_client(argv, env, workdir)
    finally:
        stop([server])
    return raw


def bench_llama(
    python: str, poll: float, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    """Deploy core and the workflow service the documented way, then load them."""
    control, queue, service = free_port(), free_port(), free_port()
    env = dict(os.environ, PYTHONPATH=str(workdir), PYTHONWARNINGS="ignore")
    core = spawn(
        [python, "llama_core.py", str(control), str(queue)], env, workdir, "llama-core.log"
    )
    processes = [core]
    try:
        wait_http(f"http://127.0.0.1:{control}/")
        argv = [python, "llama_service.py", str(control), str(service)]
        processes.append(spawn(argv, env, workdir, "llama-service.log"))
        wait_http(f"http://127.0.0.1:{control}/services", accept=lambda body: "trivial" in body)
        client = [
            python,
            "llama_client.py",
            f"http://127.0.0.1:{control}",
            str(args.llama_tasks),
            str(args.concurrency),
            str(args.concurrency),
            str(poll),
        ]
        raw = run_client(client, env, workdir)
    finally:
        stop(processes)
    return raw


async def outlive_client(url: str, tasks: int, concurrency: int) -> dict[str, Any]:
    """The client half for outlive: ``AsyncWorkflowClient.run`` (submit and long-poll in one call).

    One client per lane: httpx's pool bookkeeping grows with the connections it holds, and at
    32 connections in one pool the client process, not the server, became the bottleneck.
    """
    from plugin_core.workflow import AsyncWorkflowClient

    latencies: list[float] = []

    async def lane(client: AsyncWorkflowClient, count: int, keep: bool) -> None:
        for i in range(count):
            started = time.perf_counter()
            assert await client.run(index=i) == i
            if keep:
                latencies.append(time.perf_counter() - started)

    clients = [AsyncWorkflowClient(url, max_connections=1) for _ in range(concurrency)]
    try:
        await asyncio.gather(*(lane(client, 4, False) for client in clients))
        began = time.perf_counter()
        await asyncio.gather(*(lane(client, tasks // concurrency, True) for client in clients))
        elapsed = time.perf_counter() - began
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    return {"elapsed": elapsed, "latencies": latencies}


def print_table(rows: list[dict[str, Any]]) -> None:
    """Rows side by side, then the ratio the issue asks about."""
    print(f"\n{'server':<62} {'tasks':>6} {'tasks/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for row in rows:
        print(
            f"{row['label']:<62} {row['tasks']:>6} {row['throughput']:>9.1f} "
            f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}"
        )
    ours = next((r for r in rows if "llama Workflow" in r["label"]), None)
    for theirs in (r for r in rows if r["label"].startswith("llama_deploy")):
        if ours is not None:
            ratio = ours["throughput"] / theirs["throughput"]
            print(f"\nthroughput ratio, {ours['label']} / {theirs['label']}: {ratio:.1f}x")


def main() -> None:
    """Parse arguments and run the rows (or act as the client half)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000, help="measured tasks per outlive row")
    parser.add_argument(
        "--llama-tasks", type=int, default=96, help="measured tasks per llama row (it is slow)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="tasks in flight")
    parser.add_argument("--skip-llama", action="store_true", help="outlive rows only")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        print(json.dumps(asyncio.run(outlive_client(args.client, args.tasks, args.concurrency))))
        return
    with tempfile.TemporaryDirectory(prefix="outlive-bench-") as tmp:
        workdir = Path(tmp)
        for name, text in [
            ("bench_flow.py", FLOW_MODULE),
            ("bench_plain.py", PLAIN_MODULE),
            ("llama_core.py", LLAMA_CORE),
            ("llama_service.py", LLAMA_SERVICE),
            ("llama_client.py", LLAMA_CLIENT),
        ]:
            (workdir / name).write_text(text)
        rows = run_rows(args, workdir)
    print_table(rows)


def run_rows(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """Every row of the comparison, each with its own fresh servers."""
    rows = []
    if not args.skip_llama:
        llama = str(ensure_llama_venv())
        for queue in ("sqlite", "memory"):
            raw = bench_outlive(llama, "bench_flow:TrivialFlow", queue, args, workdir)
            rows.append(report(f"outlive WorkflowService, llama Workflow, {queue} queue", raw))
        for poll in (0.5, 0.05):
            raw = bench_llama(llama, poll, args, workdir)
            rows.append(report(f"llama_deploy 0.5.1 WorkflowService, client poll {poll}s", raw))
    raw = bench_outlive(sys.executable, "bench_plain:trivial", "sqlite", args, workdir)
    rows.append(report("outlive WorkflowService, plain async def, sqlite queue", raw))
    return rows


if __name__ == "__main__":
    main()
