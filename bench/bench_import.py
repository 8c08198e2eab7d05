"""Import cost of ``plugin_core`` on top of pydantic, and which heavy modules it drags in.

Why: Airflow re-parses every DAG file on a timer and Prefect imports every
collection, so whatever ``import plugin_core`` costs is paid on every parse.
Target: ``import plugin_core`` adds <= 25 ms after ``from pydantic import BaseModel``,
and loads none of sqlalchemy, requests, docker, fastapi, prefect, airflow, psutil.

Method: each sample is a fresh interpreter (``sys.executable -c PROBE``) that
first runs ``from pydantic import BaseModel`` (the baseline, timed too), then
times ``import plugin_core`` with ``time.perf_counter`` around it in the same
process, lists the heavy modules present afterwards, and finally times
``from plugin_core import CommandService, ServiceConfig`` (the first attribute
access, which does the real imports through the lazy ``__getattr__``).
Interpreter start-up is excluded. We report the best and the median of N
samples: noise only ever adds time, so the best is the cost, the median the
typical case.

    .venv/bin/python bench/bench_import.py [--runs 21]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

TARGET_MS = 25.0
HEAVY = ("sqlalchemy", "requests", "docker", "fastapi", "prefect", "airflow", "psutil")

PROBE = f"""
import json, sys, time
t0 = time.perf_counter()
from pydantic import BaseModel
t1 = time.perf_counter()
import plugin_core
t2 = time.perf_counter()
heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
t3 = time.perf_counter()
from plugin_core import CommandService, ServiceConfig
t4 = time.perf_counter()
heavy_after = sorted(m for m in {HEAVY!r} if m in sys.modules)
print(json.dumps({{"pydantic": t1 - t0, "plugin_core": t2 - t1, "access": t4 - t3,
                  "heavy": heavy, "heavy_after_access": heavy_after}}))
"""


def sample() -> dict[str, object]:
    """One fresh interpreter's timings (seconds) and heavy-module lists."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def summary(samples: list[dict[str, object]], key: str) -> tuple[float, float]:
    """Best and median of ``key`` over the samples, in ms."""
    values = [float(s[key]) * 1000 for s in samples]  # type: ignore[arg-type]
    return min(values), statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    samples = [sample() for _ in range(args.runs)]
    base_best, base_med = summary(samples, "pydantic")
    ours_best, ours_med = summary(samples, "plugin_core")
    acc_best, acc_med = summary(samples, "access")
    heavy = sorted({m for s in samples for m in s["heavy"]})  # type: ignore[attr-defined]
    heavy_after = sorted({m for s in samples for m in s["heavy_after_access"]})  # type: ignore[attr-defined]
    print(f"runs: {args.runs} fresh interpreters")
    print(
        f"baseline  from pydantic import BaseModel: best {base_best:6.2f} ms  median {base_med:6.2f} ms"
    )
    print(
        f"ours      import plugin_core (after it):  best {ours_best:6.2f} ms  median {ours_med:6.2f} ms"
    )
    print(f"ratio plugin_core/pydantic (medians): {ours_med / base_med:.3f}x")
    print(
        f"first access  from plugin_core import CommandService, ServiceConfig: "
        f"best {acc_best:6.2f} ms  median {acc_med:6.2f} ms  (not part of the target)"
    )
    print(f"heavy modules after import plugin_core: {heavy or 'none'}")
    print(f"heavy modules after the first access (informational): {heavy_after or 'none'}")
    ok = ours_med <= TARGET_MS and not heavy
    print(
        f"target: import plugin_core adds <= {TARGET_MS:g} ms and loads none of {', '.join(HEAVY)}"
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
