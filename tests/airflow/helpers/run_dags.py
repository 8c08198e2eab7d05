"""Run DAGs with ``dag.test()`` in one process (one Airflow start-up for several runs).

    python run_dags.py RESULTS_JSON DAG_FOLDER DAG_ID[:CONF_JSON] [DAG_ID[:CONF_JSON] ...]
    python run_dags.py --use-executor RESULTS_JSON DAG_FOLDER DAG_ID

Writes ``[{"dag_id", "run_id", "state", "seconds"}, ...]`` to RESULTS_JSON. With
``--use-executor`` the tasks go through the configured executor (LocalExecutor: the real
fork path with a supervisor per task) and an api-server must be running.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    use_executor = argv[:1] == ["--use-executor"]
    if use_executor:
        argv = argv[1:]
    results_path, dag_folder, *specs = argv
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dag_folder)  # examples are off: AIRFLOW__CORE__LOAD_EXAMPLES
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    results = []
    for spec in specs:
        dag_id, _, conf = spec.partition(":")
        started = time.monotonic()
        run = bag.dags[dag_id].test(
            run_conf=json.loads(conf) if conf else None, use_executor=use_executor
        )
        results.append(
            {
                "dag_id": dag_id,
                "run_id": run.run_id,
                "state": str(getattr(run.state, "value", run.state)),
                "seconds": round(time.monotonic() - started, 2),
            }
        )
        Path(results_path).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
