"""Memory per supervised service: today's supervisor per service vs a one-per-host prototype.

Why: every local service has its own supervisor process (spawn, log rotation, state
record, restart policy, subreaper); supervisord runs one process for all. Target (P9):
<= 1.5 MB USS per service, or, if a per-service Python process cannot get there, a
measured prototype of one supervisor per host.

Method: USS (unique set size: pages only this process maps, from
``psutil.Process.memory_full_info``) of

1. the floor: ``python -S -E`` blocked in ``_signal.pause()`` (no import at all): no
   per-service Python supervisor can cost less than this;
2. ours: the supervisors of ``--services`` real ``CommandService``s (tiny raw-socket HTTP
   servers, logged), median;
3. the prototype (``_host_supervisor_proto.py``, not product code): ONE stdlib process that
   spawns N of the same servers with ``posix_spawn``, copies each one's output into its own
   log file through ``select``, and reaps exits on SIGCHLD (the per-service work of ours
   minus restart policy and state records). USS at N=1 and at N=``--services``; the
   marginal cost per service is ``(USS(N) - USS(1)) / (N - 1)``, the amortised one
   ``USS(N) / N``.

    .venv/bin/python bench/bench_supervisor_memory.py [--services 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

TARGET_MB = 1.5
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _measure import figure  # noqa: E402
from bench_registry import TINY_SERVER, start_live, stop_everything  # noqa: E402


def uss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_full_info().uss) / 1e6


def floor_mb() -> float:
    proc = subprocess.Popen([sys.executable, "-S", "-E", "-c", "import _signal; _signal.pause()"])
    try:
        time.sleep(1.0)
        return uss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def ours_mb(count: int, script: Path) -> list[float]:
    services = start_live(count, script)
    time.sleep(1.0)  # let every supervisor settle into its loop
    return [uss_mb(s.status.pid) for s in services]


def proto_mb(count: int, script: Path, logs: Path) -> float:
    """USS of the prototype host supervisor running ``count`` services."""
    from _loopback import free_port, http_ok

    ports = [free_port() for _ in range(count)]
    proc = subprocess.Popen(
        [sys.executable, "-S", "-E", str(HERE / "_host_supervisor_proto.py"), str(logs),
         sys.executable, str(script), *map(str, ports)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"spawned"
        deadline = time.monotonic() + 30
        while not all(http_ok(p) for p in ports):
            assert time.monotonic() < deadline, "prototype's services did not come up"
            time.sleep(0.05)
        time.sleep(1.0)
        return uss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=20)
    args = parser.parse_args()
    n = args.services
    print(f"load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="outlive-bench-mem-") as tmp:
        os.environ["OUTLIVE_HOME"] = str(Path(tmp) / "home")
        script = Path(tmp) / "tiny_server.py"
        script.write_text(TINY_SERVER)
        floor = floor_mb()
        try:
            ours = ours_mb(n, script)
        finally:
            stop_everything()
        one = proto_mb(1, script, Path(tmp) / "logs1")
        many = proto_mb(n, script, Path(tmp) / "logsn")
    marginal = (many - one) / (n - 1)
    print(f"  floor: python -S -E, nothing imported       USS {floor:5.2f} MB")
    print(f"  ours: one supervisor per service (median/{n}) USS {statistics.median(ours):5.2f} MB"
          f"  (min {min(ours):.2f}, max {max(ours):.2f})")
    print(f"  prototype host supervisor, 1 service        USS {one:5.2f} MB")
    print(f"  prototype host supervisor, {n} services      USS {many:5.2f} MB")
    print(f"  prototype per service: marginal {marginal * 1000:6.0f} kB, amortised {many / n:.2f} MB")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    ours_ok = statistics.median(ours) <= TARGET_MB
    proto_ok = many / n <= TARGET_MB
    print(f"ours per service <= {TARGET_MB} MB USS:", "PASS" if ours_ok else "FAIL",
          "(below the interpreter floor: not reachable by a per-service Python process)"
          if floor > TARGET_MB else "")
    print(f"prototype per service <= {TARGET_MB} MB USS:", "PASS" if proto_ok else "FAIL")
    figure("P9", "USS per service: ours / host-supervisor prototype",
           f"{statistics.median(ours):.2f} MB / {many / n:.2f} MB (floor {floor:.2f})",
           f"<= {TARGET_MB} MB (design: one per host)", ours_ok or proto_ok)
    return 0 if ours_ok or proto_ok else 1


if __name__ == "__main__":
    sys.exit(main())
