"""DAGs run by tests/airflow with real Airflow (LocalExecutor, api-server and triggerer).

Environment (set by the tests): ``OUTLIVE_TEST_DIR`` for marker files, ``OUTLIVE_REGISTRY_URL``
and the ``outlive_test`` connection (``AIRFLOW_CONN_OUTLIVE_TEST``) naming the same registry.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, chain

from airflow_ext.operators import StartServiceOperator, StopServiceOperator, UpdateServiceOperator
from airflow_ext.sensors import ServiceActiveSensor

HELPER = str(Path(__file__).resolve().parents[1] / "helpers" / "flaky_server.py")
PY = sys.executable
NO_RETRY = {"retries": 0}


def http_server(name: str, **config: Any) -> dict[str, Any]:
    """A ``python -m http.server`` service definition, as a user would write it."""
    return {
        "type": "command",
        "config": {
            "name": name,
            "command": [PY, "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
            **config,
        },
        "endpoint": {"protocol": "http", "health": "/"},
    }


def flaky(name: str, *args: str) -> dict[str, Any]:
    """A service from helpers/flaky_server.py: slow to get ready, never ready, or crashing."""
    return {
        "type": "command",
        "config": {"name": name, "command": [PY, HELPER, "{port}", *args]},
        "endpoint": {"protocol": "http", "health": "/"},
    }


def fail_first_try(context: Any, result: Any) -> None:
    """Make try 1 fail after the service started, so Airflow retries the start task."""
    if context["ti"].try_number == 1:
        Path(os.environ["OUTLIVE_TEST_DIR"], "first_try.json").write_text(json.dumps(result))
        raise RuntimeError("simulated failure after the service started")


def hang(context: Any, result: Any) -> None:
    """Keep the task running after its service started, until Airflow kills it."""
    Path(os.environ["OUTLIVE_TEST_DIR"], "hanging.json").write_text(json.dumps(result))
    time.sleep(300)


with DAG(
    "outlive_test_lifecycle",
    schedule=None,
    params={"web_name": "web"},
    default_args=NO_RETRY,
) as lifecycle:
    start_web = StartServiceOperator(
        task_id="start_web",
        service=http_server("{{ params.web_name }}", description="started by {{ dag.dag_id }}"),
        outlive_conn_id="outlive_test",
        retries=1,
        retry_delay=timedelta(0),
        post_execute=fail_first_try,
    )
    update_web = UpdateServiceOperator(
        task_id="update_web",
        service_name="{{ params.web_name }}",
        service=http_server(
            "{{ params.web_name }}", description="updated by {{ task.task_id }}", env={"V": "2"}
        ),
    )
    steps = [start_web, update_web]
    for mode, ready_after in (("poke", "2"), ("reschedule", "3"), ("deferrable", "2")):
        steps.append(
            StartServiceOperator(
                task_id=f"start_slow_{mode}",
                # At least 2 s and 4 health requests: the first poke sees 503 however slow.
                service=flaky(
                    f"slow-{mode}", "--ready-after", ready_after, "--ready-after-requests", "4"
                ),
                wait_for_active=False,
            )
        )
        steps.append(
            ServiceActiveSensor(
                task_id=f"wait_{mode}",
                service_name=f"slow-{mode}",
                mode="reschedule" if mode == "reschedule" else "poke",
                deferrable=mode == "deferrable",
                outlive_conn_id="outlive_test" if mode == "deferrable" else None,
                poke_interval=1 if mode == "reschedule" else 0.5,
                timeout=30,
            )
        )
    chain(*steps)


with DAG("outlive_test_failures", schedule=None, default_args=NO_RETRY) as failures:
    previous = None
    for case, args, deferrable, timeout in (
        ("never-poke", ("--never-ready",), False, 3),
        ("never-defer", ("--never-ready",), True, 3),
        (
            "crash-poke",
            (
                "--never-ready",
                "--crash-after",
                "0.3",
                "--reason",
                "model file /models/m.bin missing",
            ),
            False,
            60,
        ),
        (
            "crash-defer",
            ("--never-ready", "--crash-after", "2", "--reason", "model file /models/m.bin missing"),
            True,
            60,
        ),
    ):
        start = StartServiceOperator(
            task_id=f"start_{case}",
            service=flaky(case, *args),
            wait_for_active=False,
            trigger_rule="all_done",
        )
        wait = ServiceActiveSensor(
            task_id=f"wait_{case}",
            service_name=case,
            deferrable=deferrable,
            poke_interval=0.5,
            timeout=timeout,
        )
        if previous is not None:
            previous >> start
        start >> wait
        previous = wait


with DAG(
    "outlive_test_teardown",
    schedule=None,
    params={"web_name": "web", "model_uuid": ""},
    default_args=NO_RETRY,
) as teardown:
    StopServiceOperator(task_id="stop_web", service_name="{{ params.web_name }}")
    StopServiceOperator(task_id="stop_model_by_uuid", service_name="{{ params.model_uuid }}")
    StopServiceOperator(task_id="stop_missing", service_name="never-started", ignore_missing=True)


with DAG("outlive_test_fork", schedule=None, default_args=NO_RETRY) as fork:
    start_fast = StartServiceOperator(task_id="start_fast", service=http_server("fork-web"))
    start_and_hang = StartServiceOperator(
        task_id="start_and_hang", service=http_server("fork-hang"), post_execute=hang
    )
    start_fast >> start_and_hang
