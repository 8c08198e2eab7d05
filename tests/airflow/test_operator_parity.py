"""Airflow parity in real runs: a deferrable start waits in the triggerer, the sensor has a
"Service" link, hook methods serve @task code, delete and prune operators work, tasks with no
connection fall back to the core default and say so, and the api-server's connection form
carries our labels.

The DAG (dags/outlive_parity_dags.py) runs as a user first runs it, with ``airflow dags test``
(the deferred trigger inline); the connection form is read from a real api-server.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.conftest import SKIP_REASON

pytest.importorskip("airflow.sdk", reason=SKIP_REASON)

from tests.airflow.conftest import HERE, AirflowEnv, DagRun, http_status

pytestmark = pytest.mark.integration

PARITY = "outlive_parity"
DAG_FILE = HERE / "dags" / "outlive_parity_dags.py"


@pytest.fixture(scope="module")
def parity_run(airflow_env: AirflowEnv) -> DagRun:
    link = airflow_env.root / "dags" / DAG_FILE.name  # dags test reads DAGs from that folder
    link.unlink(missing_ok=True)
    link.symlink_to(DAG_FILE)
    return airflow_env.dags_test(PARITY)


def registry(airflow_env: AirflowEnv) -> Any:
    from plugin_core import ServiceRegistry

    return ServiceRegistry(airflow_env.registry_url)


def test_the_parity_dag_succeeds(parity_run: DagRun) -> None:
    assert parity_run.state == "success", parity_run.output[-5000:]


class TestDeferrableStart:
    def test_start_defers_the_wait_to_the_trigger(self, parity_run: DagRun) -> None:
        """The task launches, defers, and resumes once the triggerer saw the service ACTIVE."""
        task_log = parity_run.task_log("start_deferred")

        assert "waiting for ACTIVE in the triggerer" in task_log
        assert "Pausing task as DEFERRED" in task_log
        assert "Service parity-deferred: active" in task_log  # the trigger's own line
        assert "parity-deferred is active (waited in the triggerer)" in task_log

    def test_resumed_start_returns_the_active_service_and_its_link(
        self, parity_run: DagRun
    ) -> None:
        info = parity_run.xcom("start_deferred")
        assert info["name"] == "parity-deferred" and info["state"] == "active"
        assert parity_run.xcom("start_deferred", "_link_ServiceLink") == info["url"]
        assert http_status(info["url"]) == 200


class TestEventsInTaskLogsAndXCom:
    def test_each_task_says_what_the_core_reported(self, parity_run: DagRun) -> None:
        """XCom and the task log say started / reused; `active` is reported once, after the
        triggerer saw it (by the resumed start), not again by the sensor."""
        deferred = parity_run.xcom("start_deferred")
        again = parity_run.xcom("start_again")
        linked = parity_run.xcom("wait_linked")
        log = parity_run.task_log("start_deferred")

        assert (deferred["outcome"], deferred["events"]) == ("started", ["active"])
        assert "Service parity-deferred started (pending_startup)" in log
        assert "Service parity-deferred active (active)" in log
        assert linked["events"] == []
        assert (again["outcome"], again["events"]) == ("reused", ["reused"])
        assert "Reused service parity-deferred" in parity_run.task_log("start_again")

    def test_the_events_log_holds_the_whole_story(
        self, parity_run: DagRun, airflow_env: AirflowEnv
    ) -> None:
        from plugin_core import EventLog

        home = Path(airflow_env.env["OUTLIVE_HOME"])
        outcomes = [
            e.outcome.value for e in EventLog(home / "events.jsonl").read("parity-deferred")
        ]
        assert outcomes == ["started", "active", "reused"]


class TestSensorLink:
    def test_sensor_links_to_the_service_it_waited_for(self, parity_run: DagRun) -> None:
        info = parity_run.xcom("wait_linked")
        assert parity_run.xcom("wait_linked", "_link_ServiceLink") == info["url"]
        assert info["url"].startswith("http://127.0.0.1:")


class TestHookInTasks:
    def test_a_task_starts_looks_up_and_stops_through_the_hook(self, parity_run: DagRun) -> None:
        result = parity_run.xcom("hook_round_trip")
        assert result["started"]["state"] == "active"
        assert result["seen"]["uuid"] == result["started"]["uuid"]
        assert result["stopped"]["state"] == "inactive"
        assert http_status(result["started"]["url"]) is None

    def test_tasks_without_a_connection_log_the_fallback(self, parity_run: DagRun) -> None:
        log = parity_run.task_log("hook_round_trip")
        assert "Outlive registry: core default sqlite:///" in log
        assert "(connection outlive_default is not defined)" in log


class TestDeleteAndPrune:
    def test_delete_removes_the_record(self, parity_run: DagRun, airflow_env: AirflowEnv) -> None:
        deleted = parity_run.xcom("delete_hooked")
        assert deleted["name"] == "parity-hooked"
        assert registry(airflow_env).get_or_none("parity-hooked") is None
        assert parity_run.task("delete_missing")["state"] == "success"

    def test_prune_preview_lists_the_stopped_service_and_keeps_it(
        self, parity_run: DagRun, airflow_env: AirflowEnv
    ) -> None:
        preview = parity_run.xcom("prune_preview")
        assert "parity-pruned" in preview["deleted"]
        assert "parity-deferred" not in preview["deleted"]
        assert registry(airflow_env).get_or_none("parity-pruned") is not None


def _api_token(airflow_env: AirflowEnv, base: str) -> str:
    passwords = json.loads(
        (airflow_env.home / "simple_auth_manager_passwords.json.generated").read_text()
    )
    body = json.dumps({"username": "admin", "password": passwords["admin"]}).encode()
    request = urllib.request.Request(
        f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["access_token"])


def test_the_api_servers_connection_form_is_labelled(airflow_servers: AirflowEnv) -> None:
    """What the UI's "Add connection" form gets for type outlive: our labels and fields."""
    airflow_env = airflow_servers
    base = airflow_env.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].removesuffix("/execution/")
    request = urllib.request.Request(
        f"{base}/ui/connections/hook_meta",
        headers={"Authorization": f"Bearer {_api_token(airflow_env, base)}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        hooks = json.loads(response.read())

    (outlive,) = [hook for hook in hooks if hook["connection_type"] == "outlive"]
    behaviour = outlive["standard_fields"]
    extra = outlive["extra_fields"]
    assert behaviour["host"]["title"] == "PostgreSQL host"
    assert behaviour["url_schema"]["title"] == "Database"
    assert extra["path"]["schema"]["title"] == "SQLite registry file"
    assert extra["url"]["schema"]["title"] == "Registry URL"
