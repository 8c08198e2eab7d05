"""What ``airflow_ext`` adds to a DAG file on top of ``import airflow.sdk``: import and first use.

The DAG processor re-parses every DAG file on a timer, in a fresh process per file, so
whatever a DAG file pays for the provider is paid on every parse. Target: at most 30 ms
over ``import airflow.sdk`` for importing the provider modules a DAG file imports
(``airflow_ext``, ``.operators``, ``.sensors``, ``.hooks``), and also for that import plus
the first use: a DAG built with a ``StartServiceOperator``, a deferrable
``ServiceActiveSensor`` and a ``StopServiceOperator``, as at parse time. No heavy module
(SQLAlchemy's registry side of the core, docker, requests, httpx, prefect) may load.

Method: each sample is a fresh interpreter that imports ``airflow.sdk`` (the baseline, its
CPU time shown), then times with ``time.process_time`` (CPU: waiting for a shared core adds
none; wall time is shown beside it) the provider's import, then the DAG. Two scenarios, each
a fresh interpreter per sample, alternated:

* over ``import airflow.sdk`` (judged): the first DAG and operator of the process are ours,
  so Airflow's own first-DAG work (timetables, asset models: ~12 ms) is booked to us;
* after a DAG with a plain ``BaseOperator`` (for information): what the provider itself
  adds to a DAG file that already builds Airflow tasks, as every DAG does.

The best of N is judged (noise only ever adds time), the median shown beside it. Children
get a private ``AIRFLOW_HOME`` and ``OUTLIVE_HOME``. Without Airflow 3 in this interpreter the
script says so, prints a SKIP row and exits 0; ``run_all.sh`` runs it with
``PYTHON_AIRFLOW`` (or the ``airflow-3.3`` nox venv) for that reason.

    python bench/bench_airflow_import.py [--runs 11]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import best_median, figure, skip_without

TARGET_MS = 30.0
HEAVY = ("sqlalchemy", "docker", "requests", "httpx", "prefect", "plugin_core.registry",
         "plugin_core.lifecycle")
FIGURES = {  # figure -> its key and what it measures, in the closing table of run_all.sh
    "import": ("P4 airflow", "import airflow_ext over airflow.sdk (cpu, best)"),
    "use": ("P4 airflow use", "import + first operators in a DAG over airflow.sdk (cpu, best)"),
}

_PROBE = """
import json, sys, time
C, W = time.process_time, time.perf_counter
c0 = C()
import airflow.sdk
from airflow.sdk import DAG, BaseOperator
c1 = C()
if {warm}:  # Airflow's own first DAG and operator, as a DAG file of plain Airflow tasks has
    with DAG("plain", schedule=None):
        BaseOperator(task_id="plain")
before = set(sys.modules)
c2, w2 = C(), W()
import airflow_ext
from airflow_ext.hooks import OutliveRegistryHook
from airflow_ext.operators import StartServiceOperator, StopServiceOperator
from airflow_ext.sensors import ServiceActiveSensor
c3, w3 = C(), W()
with DAG("outlive_bench", schedule=None):
    start = StartServiceOperator(
        task_id="start",
        service={{"type": "command",
                 "config": {{"name": "probe", "command": ["python", "-m", "http.server", "{{port}}"]}},
                 "endpoint": {{"protocol": "http", "health": "/"}}}},
        wait_for_active=False,
    )
    wait = ServiceActiveSensor(task_id="wait", service_name="probe", deferrable=True,
                               poke_interval=2, timeout=120)
    stop = StopServiceOperator(task_id="stop", service_name="probe")
    start >> wait >> stop
c4, w4 = C(), W()
new = sorted(set(sys.modules) - before)
print(json.dumps({{"sdk": (c1 - c0) * 1000, "import": (c3 - c2) * 1000, "use": (c4 - c3) * 1000,
                  "import_wall": (w3 - w2) * 1000, "use_wall": (w4 - w3) * 1000, "new": new}}))
"""


def sample(warm: bool, env: dict[str, str]) -> dict[str, object]:
    """One fresh interpreter's figures (ms) and the modules the provider loaded."""
    out = subprocess.run([sys.executable, "-c", _PROBE.format(warm=warm)], env=env, check=True,
                         capture_output=True, text=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _values(samples: list[dict[str, object]], *keys: str) -> list[float]:
    return [sum(float(str(s[key])) for key in keys) for s in samples]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="fresh interpreters per scenario")
    args = parser.parse_args()
    target = f"<= {TARGET_MS:.0f} ms"
    if skip_without("airflow.sdk", list(FIGURES.values()), target, "; set PYTHON_AIRFLOW"):
        return 0

    with tempfile.TemporaryDirectory(prefix="outlive-bench-airflow-") as home:
        env = {**os.environ, "AIRFLOW_HOME": f"{home}/airflow", "OUTLIVE_HOME": f"{home}/outlive",
               "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        sample(False, env)  # creates AIRFLOW_HOME's config and warms the bytecode caches once
        cold: list[dict[str, object]] = []
        warm: list[dict[str, object]] = []
        for _ in range(args.runs):
            cold.append(sample(False, env))
            warm.append(sample(True, env))

    imported = _values(cold, "import")
    total = _values(cold, "import", "use")
    new = sorted({m for s in cold for m in s["new"]})  # type: ignore[attr-defined]
    heavy = [m for m in new if m.startswith(HEAVY)]
    print(f"import airflow.sdk (baseline, cpu): {best_median(_values(cold, 'sdk'))}")
    print(f"over import airflow.sdk, cpu:  import {best_median(imported)}  target {target}")
    print(f"  import + first DAG (start, deferrable sensor, stop): {best_median(total)}  "
          f"target {target}")
    print(f"  the same, wall:              import {best_median(_values(cold, 'import_wall'))}; "
          f"with the DAG {best_median(_values(cold, 'import_wall', 'use_wall'))}")
    print(f"after Airflow's own first DAG (for information), cpu: import "
          f"{best_median(_values(warm, 'import'))}; with our DAG "
          f"{best_median(_values(warm, 'import', 'use'))}")
    print(f"modules new after the provider and its DAG: {len(new)}; "
          f"ours: {', '.join(m for m in new if m.startswith(('airflow_ext', 'plugin_core')))}")
    print(f"heavy modules among them: {', '.join(heavy) or 'none'}")
    ok_import = min(imported) <= TARGET_MS and not heavy
    ok_use = min(total) <= TARGET_MS and not heavy
    figure(*FIGURES["import"], f"{min(imported):.1f} ms (median {statistics.median(imported):.1f})",
           target, ok_import)
    figure(*FIGURES["use"], f"{min(total):.1f} ms (median {statistics.median(total):.1f})",
           target, ok_use)
    return 0 if ok_import and ok_use else 1


if __name__ == "__main__":
    sys.exit(main())
