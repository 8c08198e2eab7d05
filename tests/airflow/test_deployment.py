"""The adapter in a deployment: tasks, XCom, links, retries, reschedule, deferral.

Every task goes through the LocalExecutor (a forked, supervised task runner talking to a real
api-server) and deferred sensors wait in the real triggerer (see conftest): what only a
deployment shows, such as the trigger's own log and its async connection lookup. The same
DAGs also run with ``airflow dags test`` in test_dags.py, in every Airflow session. One subprocess runs the lifecycle, failure
and example DAGs; a second one, started after the first has exited, stops what the first
left running. Tests read the outcome where a user would: task states and logs in Airflow,
the registry, and HTTP.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.airflow.conftest import SKIP_REASON

pytest.importorskip("airflow.sdk", reason=SKIP_REASON)

from tests.airflow.conftest import AirflowEnv, DagRuns, http_status

pytestmark = pytest.mark.integration

LIFECYCLE, FAILURES, EXAMPLE, TEARDOWN = (
    "outlive_test_lifecycle",
    "outlive_test_failures",
    "airflow_deploy_model",
    "outlive_test_teardown",
)


@pytest.fixture(scope="module")
def first_runs(airflow_servers: AirflowEnv) -> DagRuns:
    """Run the lifecycle, failure and example DAGs; the Airflow process has exited afterwards."""
    return airflow_servers.run_dags(LIFECYCLE, FAILURES, EXAMPLE, log_name="first-runs")


def registry_service(airflow_env: AirflowEnv, name: str) -> Any:
    from plugin_core import ServiceRegistry, get_service

    return get_service(name, registry=ServiceRegistry(airflow_env.registry_url), refresh=True)


def _seconds(start: str, end: str) -> float:
    """Wall time between two metadata-DB timestamps (for a deferred or rescheduled task the
    duration column counts only its last run)."""
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


class TestOperators:
    def test_lifecycle_dag_succeeds(self, first_runs: DagRuns) -> None:
        """Start, retried start, update and the three sensor modes all succeed in one run."""
        assert first_runs.result(LIFECYCLE)["state"] == "success", first_runs.output[-5000:]

    def test_templated_service_definition_is_rendered(
        self, first_runs: DagRuns, airflow_env: AirflowEnv
    ) -> None:
        """Jinja in the service definition reaches the registry rendered (name and description)."""
        first_try = json.loads((airflow_env.markers / "first_try.json").read_text())
        assert first_try["name"] == "web"
        service = registry_service(airflow_env, "web")
        assert service.config.description == "updated by update_web"

    def test_retried_start_reuses_the_running_instance(
        self, first_runs: DagRuns, airflow_env: AirflowEnv
    ) -> None:
        """Try 2 of a start task finds the service try 1 started: same uuid, same process."""
        first_try = json.loads((airflow_env.markers / "first_try.json").read_text())
        retried = first_runs.xcom(LIFECYCLE, "start_web")
        assert first_runs.task(LIFECYCLE, "start_web")["try_number"] == 2
        assert (retried["uuid"], retried["pid"]) == (first_try["uuid"], first_try["pid"])

    def test_update_restarts_with_the_new_definition(self, first_runs: DagRuns) -> None:
        """The update task returns the same service (uuid) running as a new process."""
        started = first_runs.xcom(LIFECYCLE, "start_web")
        updated = first_runs.xcom(LIFECYCLE, "update_web")
        assert updated["uuid"] == started["uuid"]
        assert updated["pid"] != started["pid"]
        assert updated["state"] == "active"

    def test_start_returns_service_info_and_a_link(self, first_runs: DagRuns) -> None:
        """XCom carries uuid, name, state and URL; the extra link points at that URL."""
        info = first_runs.xcom(LIFECYCLE, "start_web")
        assert {"uuid", "name", "state", "url"} <= set(info)
        assert first_runs.xcom(LIFECYCLE, "start_web", "_link_ServiceLink") == info["url"]

    def test_hook_reads_the_real_connection(self, first_runs: DagRuns) -> None:
        """Tasks with outlive_conn_id resolve the registry from the Airflow connection."""
        log = first_runs.task_log(LIFECYCLE, "start_web")
        assert "Outlive registry: sqlite:///" in log
        assert "(connection outlive_test)" in log


class TestSensor:
    def test_poke_mode_waits_for_a_slow_service(self, first_runs: DagRuns) -> None:
        """Poke mode keeps poking through 503 answers and succeeds once healthy."""
        task = first_runs.task(LIFECYCLE, "wait_poke")
        assert task["state"] == "success"
        assert _seconds(task["start_date"], task["end_date"]) >= 1.0
        assert first_runs.xcom(LIFECYCLE, "wait_poke")["state"] == "active"

    def test_reschedule_mode_releases_the_slot_between_pokes(
        self, first_runs: DagRuns, airflow_env: AirflowEnv
    ) -> None:
        """Reschedule mode really reschedules (rows in task_reschedule) before succeeding."""
        task = first_runs.task(LIFECYCLE, "wait_reschedule")
        assert task["state"] == "success"
        reschedules = airflow_env.sql(
            "SELECT count(*) FROM task_reschedule WHERE ti_id=?", task["id"]
        )
        assert reschedules[0][0] >= 1

    def test_deferrable_mode_really_defers_to_the_trigger(self, first_runs: DagRuns) -> None:
        """The deferrable sensor hands over to ServiceActiveTrigger, which sees the service active."""
        task = first_runs.task(LIFECYCLE, "wait_deferrable")
        assert task["state"] == "success"
        trigger_log = first_runs.task_log(LIFECYCLE, "wait_deferrable", trigger=True)
        assert "Service slow-deferrable: active" in trigger_log  # written by the triggerer
        assert "(connection outlive_test)" in trigger_log  # the async connection lookup
        task_log = first_runs.task_log(LIFECYCLE, "wait_deferrable")
        assert "Pausing task as DEFERRED" in task_log
        assert "slow-deferrable is active (waited in the triggerer)" in task_log
        assert first_runs.xcom(LIFECYCLE, "wait_deferrable")["name"] == "slow-deferrable"

    @pytest.mark.parametrize("task_id", ["wait_never-poke", "wait_never-defer"])
    def test_never_healthy_service_times_out(self, first_runs: DagRuns, task_id: str) -> None:
        """A service that never gets healthy fails the sensor at its timeout (3 s), not before."""
        task = first_runs.task(FAILURES, task_id)
        assert task["state"] == "failed"
        assert "AirflowSensorTimeout" in first_runs.task_log(FAILURES, task_id)
        assert 2.5 <= _seconds(task["start_date"], task["end_date"]) < 30

    @pytest.mark.parametrize("task_id", ["wait_crash-poke", "wait_crash-defer"])
    def test_crashed_service_fails_fast_with_its_reason(
        self, first_runs: DagRuns, task_id: str
    ) -> None:
        """A crash fails the sensor long before its 60 s timeout, with the reason from the log."""
        task = first_runs.task(FAILURES, task_id)
        assert task["state"] == "failed"
        assert _seconds(task["start_date"], task["end_date"]) < 20
        log = first_runs.task_log(FAILURES, task_id)
        service = task_id.removeprefix("wait_")
        assert f"Service '{service}' failed: " in log  # then the core's reason (exit code)
        assert "fatal: model file /models/m.bin missing" in log  # the service's log tail


class TestOutlivingTheRun:
    def test_example_dag_deploys_and_predicts(self, first_runs: DagRuns) -> None:
        """The example trains, deploys, waits in the triggerer and gets a prediction."""
        assert first_runs.result(EXAMPLE)["state"] == "success", first_runs.output[-5000:]
        assert first_runs.xcom(EXAMPLE, "predict_once") == pytest.approx(20.82, abs=0.01)
        # Whether it defers depends on how fast the model loads; the lifecycle DAG's
        # slow-deferrable is the deterministic check of the triggerer.
        assert first_runs.task(EXAMPLE, "wait_until_serving")["state"] == "success"

    @pytest.mark.parametrize("name", ["web", "linear-model", "slow-deferrable"])
    def test_services_stay_active_after_airflow_exited(
        self, first_runs: DagRuns, airflow_env: AirflowEnv, name: str
    ) -> None:
        """After the DAG runs and the Airflow process are gone, the services still answer HTTP."""
        service = registry_service(airflow_env, name)
        assert service.status.state.value == "active"
        assert http_status(service.endpoint.status.uri) == 200

    def test_a_second_dag_run_finds_and_stops_them(
        self, first_runs: DagRuns, airflow_env: AirflowEnv
    ) -> None:
        """A later DAG run stops services by name and by uuid; a missing one can be ignored."""
        model = first_runs.xcom(EXAMPLE, "start_model_server")
        conf = json.dumps({"web_name": "web", "model_uuid": model["uuid"]})
        second = airflow_env.run_dags(f"{TEARDOWN}:{conf}", log_name="second-run")
        assert second.result(TEARDOWN)["state"] == "success", second.output[-5000:]
        for name in ("web", "linear-model"):
            service = registry_service(airflow_env, name)
            assert service.status.state.value == "inactive"
            assert http_status(service.endpoint.status.uri) is None
        assert second.task(TEARDOWN, "stop_missing")["state"] == "success"
