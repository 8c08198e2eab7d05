"""What importing the operators and the sensor costs a DAG file, beyond Airflow's own classes.

    python import_cost.py        -> JSON {"baseline_ms", "delta_ms", "new_modules"}

A DAG file that uses any operator already imports Airflow's base classes; what this
package adds on top is ``delta_ms`` and ``new_modules`` (plugin_core must stay lazy, and
nothing may pull in SQLAlchemy, requests or docker at parse time).
"""

from __future__ import annotations

import json
import sys
import time

started = time.perf_counter()
from airflow.sdk import BaseOperator, BaseOperatorLink, BaseSensorOperator, PokeReturnValue  # noqa: E402, F401

baseline = time.perf_counter() - started
before = set(sys.modules)
started = time.perf_counter()
import airflow_ext.operators  # noqa: E402
import airflow_ext.sensors  # noqa: E402, F401

delta = time.perf_counter() - started
print(
    json.dumps(
        {
            "baseline_ms": round(baseline * 1000, 1),
            "delta_ms": round(delta * 1000, 2),
            "new_modules": sorted(set(sys.modules) - before),
        }
    )
)
