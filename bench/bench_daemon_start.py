"""Start to ACTIVE of a ZenML-style ``run()`` daemon vs a bare ``python -m http.server`` spawn.

Why (P1b): a ``LocalDaemonService`` runs its ``run()`` in a fresh Python process that must
import the service's module (and so plugin_core and pydantic) and load the service from its
JSON before it can serve; that import is the cost, and it is paid on every start and restart.
Target: ours / baseline <= **2.0x** (ratio of medians and median of paired ratios).

Method, as ``bench_start.py`` (one process, trials interleaved, the order flipped every
trial, medians):

* baseline: ``subprocess.Popen`` of ``python -m http.server PORT --bind 127.0.0.1``, then a
  fresh GET every 2 ms until 200; from just before ``Popen`` to the 200;
* ours: ``HTTPDaemon(config=..., endpoint=http_endpoint()).start()`` (``_zenml_daemon.py``:
  ``run()`` serves ``http.server`` on the endpoint's port), a new name per trial, stopped
  between trials; time around ``start()`` alone, after one untimed warm-up start.

Besides wall time, each side's CPU time (user + sys) is reported: the caller's own
(``process_time``) plus the children's (``RUSAGE_CHILDREN`` deltas, which include the
daemon and its supervisor once a stop has reaped them), since on a shared machine waiting
for a core adds wall time but not CPU time. This process is a child subreaper, so a
supervisor launched by the fork path (a grandchild whose parent exits at once) is adopted
and reaped here too, and its usage counted like the exec path's.

Which way the daemon was launched (forked from this single-threaded process, or exec'd) is
printed from the supervisor's record.

    .venv/bin/python bench/bench_daemon_start.py [--trials 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_start
from _measure import children_cpu, figure

TARGET_RATIO = 2.0


def baseline_trial() -> tuple[float, float]:
    """(wall s to the first 200, CPU s of the server process): bench_start's bare spawn."""
    wall = bench_start.baseline_trial()
    return wall, bench_start.CPU["baseline"][-1]


class DaemonRunner:
    """Starts and stops ``HTTPDaemon`` instances with fresh names."""

    def __init__(self) -> None:
        from _zenml_daemon import HTTPDaemon, HTTPDaemonConfig

        from plugin_core import http_endpoint
        from plugin_core.backends.local import read_supervisor_record

        self._make = lambda name: HTTPDaemon(
            config=HTTPDaemonConfig(name=name), endpoint=http_endpoint()
        )
        self._count = 0
        self.ways: list[str] = []  # how each trial's daemon was launched
        self._record = read_supervisor_record

    def trial(self) -> tuple[float, float]:
        """(wall s in ``start()``, CPU s of the caller in it plus the daemon's processes)."""
        self._count += 1
        service = self._make(f"bench-daemon-{self._count}")
        cpu0, own0 = children_cpu(), time.process_time()
        t0 = time.perf_counter()
        service.start(timeout=60)
        wall = time.perf_counter() - t0
        own = time.process_time() - own0
        self.ways.append("fork" if self._record(service.status).get("child_forked") else "exec")
        supervisor = service.status.supervisor_pid
        service.stop(force=True)
        try:  # forked: this subreaper adopted the supervisor when its forking parent exited
            os.waitpid(supervisor, 0)  # type: ignore[arg-type]
        except ChildProcessError:  # exec'd: the reaper thread collects the supervisor's usage
            deadline = time.monotonic() + 5
            while children_cpu() == cpu0 and time.monotonic() < deadline:
                time.sleep(0.005)
        return wall, own + children_cpu() - cpu0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=15)
    args = parser.parse_args()
    from plugin_core.subreaper import subreaper_setter

    # A subreaper, so a forked daemon's supervisor (and, through it, the daemon) is reaped
    # here and its CPU time counted in RUSAGE_CHILDREN as an exec'd one's is.
    subreaper_setter()()
    with tempfile.TemporaryDirectory(prefix="outlive-bench-daemon-") as home:
        os.environ["OUTLIVE_HOME"] = home
        runner = DaemonRunner()
        runner.trial()  # warm-up: imports, registry engine, schemas, page cache
        baseline_trial()
        base: list[tuple[float, float]] = []
        ours: list[tuple[float, float]] = []
        for index in range(args.trials):
            pair = [(baseline_trial, base), (runner.trial, ours)]
            for func, sink in pair if index % 2 == 0 else reversed(pair):
                sink.append(func())
    med = statistics.median
    b, o = med(w for w, _ in base) * 1000, med(w for w, _ in ours) * 1000
    bc, oc = med(c for _, c in base) * 1000, med(c for _, c in ours) * 1000
    paired = med(ow / bw for (ow, _), (bw, _) in zip(ours, base, strict=True))
    ways = runner.ways[1:]
    print(f"trials: {args.trials} (interleaved); daemons forked: {ways.count('fork')}, "
          f"exec'd: {ways.count('exec')}")
    print(f"baseline (Popen http.server + 2 ms GET poll): wall median {b:7.1f} ms  min "
          f"{min(w for w, _ in base) * 1000:6.1f} | cpu median {bc:6.1f} ms")
    print(f"ours     (ZenML-style run() daemon start):   wall median {o:7.1f} ms  min "
          f"{min(w for w, _ in ours) * 1000:6.1f} | cpu median {oc:6.1f} ms")
    print(f"ratio ours/baseline: wall (medians) {o / b:.2f}x, median of paired ratios {paired:.2f}x, "
          f"cpu {oc / bc:.2f}x  (target <= {TARGET_RATIO}x wall, both)")
    ok = max(o / b, paired) <= TARGET_RATIO
    figure("P1b", "run() daemon start / bare http.server", f"{o / b:.2f}x wall ({paired:.2f}x paired), "
           f"{oc / bc:.2f}x cpu; {o:.0f} vs {b:.0f} ms", f"<= {TARGET_RATIO}x", ok)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
