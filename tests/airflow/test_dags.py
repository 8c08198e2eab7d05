"""The adapter as a user first meets it: ``airflow dags test`` on a SQLite metadata DB.

Each DAG runs in its own ``airflow dags test`` process (tasks in that process, a deferred
sensor's trigger inline, reschedules and retries looped there), with no scheduler, api-server
or triggerer. Every Airflow session runs this module, so it pins what each supported Airflow
does with the operators, the sensor in poke, reschedule and deferrable modes, and the extra
link. The outcome is read where a user would: task states and XComs in Airflow's DB, the
command's output, the registry, and HTTP. test_deployment.py runs the same DAGs through a
LocalExecutor and a real triggerer.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.airflow.conftest import SKIP_REASON

pytest.importorskip("airflow.sdk", reason=SKIP_REASON)

from tests.airflow.conftest import AirflowEnv, DagRun, http_status

pytestmark = pytest.mark.integration

LIFECYCLE, FAILURES, EXAMPLE, TEARDOWN = (
    "outlive_test_lifecycle",
    "outlive_test_failures",
    "airflow_deploy_model",
    "outlive_test_teardown",
)


@pytest.fixture(scope="module")
def lifecycle(airflow_env: AirflowEnv) -> DagRun:
    return airflow_env.dags_test(LIFECYCLE)


@pytest.fixture(scope="module")
def failures(airflow_env: AirflowEnv) -> DagRun:
    return airflow_env.dags_test(FAILURES)


@pytest.fixture(scope="module")
def example(airflow_env: AirflowEnv) -> DagRun:
    return airflow_env.dags_test(EXAMPLE)


def registry_service(airflow_env: AirflowEnv, name: str) -> Any:
    from plugin_core import ServiceRegistry, get_service

    return get_service(name, registry=ServiceRegistry(airflow_env.registry_url), refresh=True)


def _seconds(task: dict[str, Any]) -> float:
    """Wall time of a task instance, from its metadata-DB timestamps."""
    start, end = task["start_date"], task["end_date"]
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


class TestOperators:
    def test_lifecycle_dag_succeeds(self, lifecycle: DagRun) -> None:
        """Start, retried start, update and the three sensor modes all succeed in one run."""
        assert lifecycle.state == "success", lifecycle.output[-5000:]
        assert lifecycle.returncode == 0

    def test_retried_start_reuses_the_running_instance(
        self, lifecycle: DagRun, airflow_env: AirflowEnv
    ) -> None:
        """Try 2 of a start task finds the service try 1 started: same uuid, same process."""
        first_try = json.loads((airflow_env.markers / "first_try.json").read_text())
        retried = lifecycle.xcom("start_web")
        assert lifecycle.task("start_web")["try_number"] == 2
        assert (retried["uuid"], retried["pid"]) == (first_try["uuid"], first_try["pid"])
        assert "simulated failure after the service started" in lifecycle.task_log("start_web")

    def test_templated_definition_and_update(
        self, lifecycle: DagRun, airflow_env: AirflowEnv
    ) -> None:
        """Jinja reaches the registry rendered; the update restarts the same service (uuid)."""
        started, updated = lifecycle.xcom("start_web"), lifecycle.xcom("update_web")
        assert started["name"] == "web"
        assert updated["uuid"] == started["uuid"] and updated["pid"] != started["pid"]
        assert updated["state"] == "active"
        service = registry_service(airflow_env, "web")
        assert service.config.description == "updated by update_web"

    def test_start_returns_service_info_and_the_extra_link(self, lifecycle: DagRun) -> None:
        """XCom carries uuid, name, state and URL; the "Service" link stored with it is the URL."""
        info = lifecycle.xcom("start_web")
        assert {"uuid", "name", "state", "url"} <= set(info)
        assert info["url"].startswith("http://127.0.0.1:")
        assert lifecycle.xcom("start_web", "_link_ServiceLink") == info["url"]

    def test_hook_reads_the_connection(self, lifecycle: DagRun) -> None:
        """outlive_conn_id resolves the registry from the Airflow connection (an env variable)."""
        log = lifecycle.task_log("start_web")
        assert "Outlive registry: sqlite:///" in log and "(connection outlive_test)" in log


class TestSensor:
    def test_poke_mode_waits_for_a_slow_service(self, lifecycle: DagRun) -> None:
        """Poke mode keeps poking through 503 answers and succeeds once healthy."""
        task = lifecycle.task("wait_poke")
        assert task["state"] == "success"
        assert _seconds(task) >= 1.0
        assert lifecycle.xcom("wait_poke")["state"] == "active"

    def test_reschedule_mode_really_reschedules(
        self, lifecycle: DagRun, airflow_env: AirflowEnv
    ) -> None:
        """Reschedule mode gives its slot back between pokes (rows in task_reschedule)."""
        task = lifecycle.task("wait_reschedule")
        assert task["state"] == "success"
        rows = airflow_env.sql("SELECT count(*) FROM task_reschedule WHERE ti_id=?", task["id"])
        assert rows[0][0] >= 1
        assert lifecycle.xcom("wait_reschedule")["name"] == "slow-reschedule"

    def test_deferrable_mode_defers_to_the_trigger(self, lifecycle: DagRun) -> None:
        """The sensor defers; ServiceActiveTrigger (run inline) sees the service become active."""
        assert lifecycle.task("wait_deferrable")["state"] == "success"
        log = lifecycle.task_log("wait_deferrable")
        assert "Pausing task as DEFERRED" in log
        assert "Service slow-deferrable: active" in log  # the trigger's own line
        assert "slow-deferrable is active (waited in the triggerer)" in log
        assert lifecycle.xcom("wait_deferrable")["name"] == "slow-deferrable"

    @pytest.mark.parametrize("task_id", ["wait_never-poke", "wait_never-defer"])
    def test_never_healthy_service_times_out(self, failures: DagRun, task_id: str) -> None:
        """A service that never gets healthy fails the sensor at its timeout (3 s), not before."""
        task = failures.task(task_id)
        assert task["state"] == "failed"
        assert "AirflowSensorTimeout" in failures.task_log(task_id)
        assert 2.5 <= _seconds(task) < 30

    @pytest.mark.parametrize("task_id", ["wait_crash-poke", "wait_crash-defer"])
    def test_crashed_service_fails_fast_with_its_reason(
        self, failures: DagRun, task_id: str
    ) -> None:
        """A crash fails the sensor long before its 60 s timeout, with the reason from the log."""
        task = failures.task(task_id)
        assert task["state"] == "failed"
        assert _seconds(task) < 20
        log = failures.task_log(task_id)
        assert f"Service '{task_id.removeprefix('wait_')}' failed: " in log
        assert "fatal: model file /models/m.bin missing" in log

    def test_a_failed_run_fails_the_command(self, failures: DagRun) -> None:
        """`airflow dags test` exits non-zero when the run failed (scripts can rely on it)."""
        assert failures.state == "failed"
        assert failures.returncode != 0


class TestOutlivingTheRun:
    def test_example_dag_deploys_and_predicts(self, example: DagRun) -> None:
        """The example trains, deploys, waits (deferred) and gets a prediction."""
        assert example.state == "success", example.output[-5000:]
        assert example.xcom("predict_once") == pytest.approx(20.82, abs=0.01)
        assert example.task("wait_until_serving")["state"] == "success"

    @pytest.mark.parametrize("name", ["web", "linear-model", "slow-deferrable"])
    def test_services_stay_active_after_airflow_exited(
        self, lifecycle: DagRun, example: DagRun, airflow_env: AirflowEnv, name: str
    ) -> None:
        """After `airflow dags test` has exited, the services still answer HTTP."""
        service = registry_service(airflow_env, name)
        assert service.status.state.value == "active"
        assert http_status(service.endpoint.status.uri) == 200

    def test_a_second_dag_run_finds_and_stops_them(
        self, lifecycle: DagRun, example: DagRun, airflow_env: AirflowEnv
    ) -> None:
        """A later run stops services by name and by uuid; a missing one can be ignored."""
        model = example.xcom("start_model_server")
        teardown = airflow_env.dags_test(
            TEARDOWN, conf={"web_name": "web", "model_uuid": model["uuid"]}
        )
        assert teardown.state == "success", teardown.output[-5000:]
        for name in ("web", "linear-model"):
            service = registry_service(airflow_env, name)
            assert service.status.state.value == "inactive"
            assert http_status(service.endpoint.status.uri) is None
        assert teardown.task("stop_missing")["state"] == "success"
