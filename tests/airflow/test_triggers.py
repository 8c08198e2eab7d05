"""ServiceActiveTrigger: plain-data serialisation, and its events against real services."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import pytest

from tests.airflow.conftest import SKIP_REASON

pytest.importorskip("airflow.sdk", reason=SKIP_REASON)

from airflow_ext.triggers import ServiceActiveTrigger
from tests.airflow.conftest import HERE

HELPER = str(HERE / "helpers" / "flaky_server.py")


def launch(name: str, *args: str) -> None:
    """Start a helpers/flaky_server.py service without waiting for it to be healthy."""
    from plugin_core import load_service, start_service

    start_service(
        load_service(
            {
                "type": "command",
                "config": {"name": name, "command": [sys.executable, HELPER, "{port}", *args]},
                "endpoint": {"protocol": "http", "health": "/"},
            }
        ),
        wait=False,
    )


def fire(trigger: ServiceActiveTrigger) -> tuple[dict[str, Any], float]:
    """Run the trigger as the triggerer does, after a serialise/deserialise round trip."""
    from airflow.sdk.module_loading import import_string

    try:
        from airflow.sdk.serde import deserialize, serialize
    except ImportError:  # Airflow 3.1: the triggerer's serde is still in airflow.serialization
        from airflow.serialization.serde import deserialize, serialize

    classpath, kwargs = trigger.serialize()
    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))

    async def first_event() -> Any:
        return await anext(rebuilt.run())

    started = time.monotonic()
    event = asyncio.run(first_event())
    return event.payload, time.monotonic() - started


class TestSerialization:
    def test_round_trip_is_plain_data_with_a_derived_classpath(self) -> None:
        """serialize() gives an importable classpath and JSON kwargs that rebuild the trigger."""
        from airflow.sdk.module_loading import import_string

        trigger = ServiceActiveTrigger(
            "svc", outlive_conn_id="conn", timeout=12, policy={"period": 2.0}
        )
        classpath, kwargs = trigger.serialize()
        assert classpath == "airflow_ext.triggers.ServiceActiveTrigger"
        assert json.loads(json.dumps(kwargs)) == {
            "service": "svc",
            "outlive_conn_id": "conn",
            "timeout": 12.0,
            "policy": {"period": 2.0},
            "wait_for_registration": False,
        }
        assert import_string(classpath)(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.integration
class TestEvents:
    def test_slow_service_gives_active(self) -> None:
        """The trigger keeps probing through 503s and fires "active" once the service is healthy."""
        launch("slow", "--ready-after", "1.5")
        event, seconds = fire(ServiceActiveTrigger("slow", timeout=20, policy={"period": 0.3}))
        assert event["status"] == "active"
        assert event["service"]["name"] == "slow"
        assert 1.0 <= seconds < 10

    def test_never_healthy_service_gives_timeout(self) -> None:
        """A service that never gets healthy ends in a "timeout" event at the timeout."""
        launch("never", "--never-ready")
        event, seconds = fire(ServiceActiveTrigger("never", timeout=1.5, policy={"period": 0.3}))
        assert event["status"] == "timeout"
        assert "503" in event["message"]
        assert 1.4 <= seconds < 6

    def test_crash_gives_error_with_reason_and_log_tail(self) -> None:
        """A crash ends the wait at once with the exit reason and the service's last log lines."""
        launch("crash", "--never-ready", "--crash-after", "0.5", "--reason", "port config missing")
        event, seconds = fire(ServiceActiveTrigger("crash", timeout=30, policy={"period": 0.3}))
        assert event["status"] == "error"
        assert event["message"]  # the core's reason, e.g. the exit code
        assert "fatal: port config missing" in event["log_tail"]
        assert seconds < 10

    def test_unknown_service_is_not_found_at_once(self) -> None:
        """The core's one rule: a name nobody registered fails at once, as in Prefect."""
        event, seconds = fire(ServiceActiveTrigger("nobody", timeout=60, policy={"period": 0.2}))
        assert event["status"] == "not_found"
        assert "No service named" in event["message"]
        assert seconds < 30

    def test_unknown_service_is_not_ready_until_timeout_when_waiting_for_registration(
        self,
    ) -> None:
        """Opted in: a name nobody registered yet counts as "not yet" (another DAG may start it)."""
        trigger = ServiceActiveTrigger(
            "nobody", timeout=0.5, policy={"period": 0.2}, wait_for_registration=True
        )
        event, _ = fire(trigger)
        assert event["status"] == "timeout"
        assert "not registered" in event["message"]

    def test_service_registered_while_waiting_becomes_active(self) -> None:
        """Opted in, the trigger sees a service registered after it started waiting."""
        import threading

        later = threading.Timer(0.5, launch, ("later",))
        later.start()
        trigger = ServiceActiveTrigger(
            "later", timeout=30, policy={"period": 0.2}, wait_for_registration=True
        )
        event, _ = fire(trigger)
        later.join()
        assert event["status"] == "active", event


class TestSensorPokeAgrees:
    """The sensor's poke is one look of the core's wait: the same unknown-name rule."""

    def test_unknown_name_fails_the_poke_at_once(self) -> None:
        from airflow_ext._compat import AirflowFailException
        from airflow_ext.sensors import ServiceActiveSensor

        sensor = ServiceActiveSensor(task_id="wait_nobody", service_name="nobody")
        with pytest.raises(AirflowFailException, match="No service named"):
            sensor.poke({})  # type: ignore[arg-type]

    def test_unknown_name_is_not_yet_when_waiting_for_registration(self) -> None:
        from airflow_ext.sensors import ServiceActiveSensor

        sensor = ServiceActiveSensor(
            task_id="wait_later", service_name="later-poke", wait_for_registration=True
        )
        assert sensor.poke({}) is False  # type: ignore[arg-type]
        launch("later-poke")
        from plugin_core import wait_for_service

        wait_for_service("later-poke", timeout=30)
        assert sensor.poke({})  # type: ignore[arg-type]
