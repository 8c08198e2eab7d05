"""Whole-process CLI latency: ``outlive --help`` and ``outlive list`` with 20 live services.

Why: people type ``outlive list`` the way they type ``docker ps``; scripts call it in loops.
Targets (P10): ``outlive --help`` <= 80 ms wall, ``outlive list`` with 20 registered, live
services <= 150 ms wall (medians).

Method (hyperfine-style): each sample is a fresh ``outlive`` process (the console script
next to ``sys.executable``, else ``python -c "from plugin_core.cli import main; main()"``),
spawned with ``subprocess.Popen`` and reaped with ``os.wait4`` so we get its wall time and
its CPU time (user + sys, from the kernel's rusage) in the same sample. CPU time is the
steadier figure on a shared machine: waiting for a core adds wall time but not CPU time.
Baseline, interleaved: ``python -c pass`` (the interpreter's own start-up, the floor).
Children run without ``PYTHONDONTWRITEBYTECODE``, so the warm-up run leaves the bytecode an
installed package has (pip compiles it at install time); with it set, every sample would
compile outlive's sources again (an editable install has no bytecode of its own).
``--imports N`` also prints the N costliest imports of one ``outlive list`` (``-X importtime``).
The 20 services are tiny raw-socket HTTP servers started with ``CommandService.http`` in a
temporary ``OUTLIVE_HOME`` and stopped at the end, also on error. Each command's output is
checked (the list shows 20 ACTIVE services), and the run says whether ``outlive list``
took the row path (:mod:`plugin_core.cli.rows`, no pydantic) or fell back to the models.

    .venv/bin/python bench/bench_cli.py [--runs 21] [--services 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP_TARGET_MS = 80.0
LIST_TARGET_MS = 150.0
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import figure  # noqa: E402
from bench_registry import TINY_SERVER, start_live, stop_everything  # noqa: E402

ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
"""The children's environment (``OUTLIVE_HOME`` is added to it once the temporary home exists)."""


def imports_of(argv: list[str]) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) of every import of one run of ``argv``."""
    python = argv if argv[0] == sys.executable else [sys.executable, *argv]  # a console script
    proc = subprocess.run(
        [python[0], "-X", "importtime", *python[1:]], capture_output=True, text=True, env=ENV
    )
    rows = []
    for line in proc.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[1].strip().isdigit():
            rows.append((int(fields[1]), fields[2].rstrip()))
    return rows


def costliest_imports(argv: list[str], count: int) -> None:
    """Print the ``count`` imports of one run of ``argv`` with the most cumulative time."""
    rows = imports_of(argv)
    print(f"  costliest imports of `{' '.join(argv[-1:])}` (cumulative, -X importtime):")
    for micros, name in sorted(rows, reverse=True)[:count]:
        print(f"    {micros / 1000:7.1f} ms {name}")


def outlive_argv() -> list[str]:
    """The installed console script if it sits next to this interpreter, else the same via -c."""
    script = Path(sys.executable).with_name("outlive")
    if script.exists() and not os.environ.get("PYTHONPATH"):
        return [str(script)]
    return [sys.executable, "-c", "import sys; from plugin_core.cli import main; sys.exit(main())"]


def run(argv: list[str]) -> tuple[float, float, bytes]:
    """Wall ms, CPU ms (user + sys of the child) and stdout of one whole-process run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - t0) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}"
    return wall, (usage.ru_utime + usage.ru_stime) * 1000, out


def measure(label: str, argv: list[str], runs: int, floor: list[str]) -> tuple[float, float]:
    """Interleave ``argv`` with the floor; print medians and minimums; return (wall, cpu)."""
    ours: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []
    run(argv)  # warm the page cache
    for i in range(runs):
        pair = [(ours, argv), (base, floor)]
        for sink, command in pair if i % 2 == 0 else reversed(pair):
            wall, cpu, _ = run(command)
            sink.append((wall, cpu))
    med_w = statistics.median(w for w, _ in ours)
    med_c = statistics.median(c for _, c in ours)
    print(
        f"  {label:<28} wall median {med_w:7.1f} ms (min {min(w for w, _ in ours):6.1f})  "
        f"cpu median {med_c:7.1f} ms (min {min(c for _, c in ours):6.1f})"
    )
    print(
        f"  {'  floor: python -c pass':<28} wall median {statistics.median(w for w, _ in base):7.1f}"
        f" ms  cpu median {statistics.median(c for _, c in base):7.1f} ms"
    )
    return med_w, med_c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--imports", type=int, default=0, metavar="N")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f}")
    floor = [sys.executable, "-c", "pass"]
    outlive = outlive_argv()
    with tempfile.TemporaryDirectory(prefix="outlive-bench-cli-") as tmp:
        os.environ["OUTLIVE_HOME"] = ENV["OUTLIVE_HOME"] = str(Path(tmp) / "home")
        script = Path(tmp) / "tiny_server.py"
        script.write_text(TINY_SERVER)
        try:
            start_live(args.services, script)
            _, _, out = run([*outlive, "list", "--json"])
            states = [row["state"] for row in json.loads(out)]
            assert states.count("active") == args.services, states
            models = any(name.strip() == "pydantic" for _, name in imports_of([*outlive, "list"]))
            print(
                f"  outlive list took the {'model' if models else 'row'} path (plugin_core.cli.rows)"
            )
            _, _, out = run([*outlive, "--help"])
            assert b"list" in out and b"start" in out, out
            help_wall, help_cpu = measure("outlive --help", [*outlive, "--help"], args.runs, floor)
            list_wall, list_cpu = measure(
                f"outlive list ({args.services} live)", [*outlive, "list"], args.runs, floor
            )
            if args.imports:
                costliest_imports([*outlive, "list"], args.imports)
        finally:
            stop_everything()
    print(f"load average: {os.getloadavg()[0]:.2f}")
    help_ok, list_ok = help_wall <= HELP_TARGET_MS, list_wall <= LIST_TARGET_MS
    figure(
        "P10",
        "outlive --help",
        f"{help_wall:.0f} ms wall, {help_cpu:.0f} ms cpu",
        f"<= {HELP_TARGET_MS:g} ms",
        help_ok,
    )
    figure(
        "P10",
        f"outlive list ({args.services} live)",
        f"{list_wall:.0f} ms wall, {list_cpu:.0f} ms cpu",
        f"<= {LIST_TARGET_MS:g} ms",
        list_ok,
    )
    print(f"outlive --help <= {HELP_TARGET_MS:g} ms:", "PASS" if help_ok else "FAIL")
    print(f"outlive list <= {LIST_TARGET_MS:g} ms:", "PASS" if list_ok else "FAIL")
    return 0 if help_ok and list_ok else 1


if __name__ == "__main__":
    sys.exit(main())
