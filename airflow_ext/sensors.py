"""``ServiceActiveSensor``: succeed when a registered service is ACTIVE.

Semantics are the same in every mode:

* a probe that fails or a refused connection means "not yet";
* a name nobody registered fails at once (the core's one rule, as in Prefect and the CLI),
  unless ``wait_for_registration=True``: then it is "not yet" (a sensor that may run before
  the task or DAG that starts the service);
* the service in ERROR (crashed, exhausted its restarts) fails the task at once, with the
  service's reason and log tail; no retry of the sensor can fix that;
* ``timeout`` (default 10 minutes, never Airflow's 7-day sensor default) fails with
  ``AirflowSensorTimeout``.

``deferrable=True`` (default: ``[operators] default_deferrable``) checks once, then hands the
wait to ``ServiceActiveTrigger`` and frees the worker slot.

The triggerer resolves the registry itself: give the sensor an ``outlive_conn_id``, or make
sure the triggerer sees the same ``OUTLIVE_REGISTRY_URL`` / ``OUTLIVE_HOME`` as the workers.
The hook and the trigger are imported when a task runs, not when a DAG file is parsed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_ext._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    default_deferrable,
)
from airflow_ext.links import ServiceLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_ext.hooks import OutliveRegistryHook
    from plugin_core import ProbePolicy, ServiceRegistry

__all__ = ["DEFAULT_TIMEOUT", "ServiceActiveSensor", "outcome_of_wait"]

DEFAULT_TIMEOUT = 600.0
_DEFER_GRACE = 60.0  # the trigger times itself out; this only catches a lost trigger


class ServiceActiveSensor(BaseSensorOperator):
    """Wait until the service ``service_name`` (name or uuid) is ACTIVE.

    :param service_name: name or uuid (templated).
    :param outlive_conn_id: ``outlive`` connection; ``outlive_default`` falls back to the core
        default registry when that connection is not defined; None skips the lookup.
    :param policy: the core ``ProbePolicy`` for the deferred wait; by default quick first
        probes backing off to ``poke_interval``.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param wait_for_registration: treat a name nobody registered as "not yet" instead of
        failing at once.

    Returns (XCom) the core's ``service_info`` dict of the active service; the "Service"
    extra link opens its URL.
    """

    template_fields: Sequence[str] = ("service_name", "outlive_conn_id")
    ui_color = "#d5e8d4"
    operator_extra_links = (ServiceLink(),)

    def __init__(
        self,
        *,
        service_name: str,
        outlive_conn_id: str | None = "outlive_default",
        policy: ProbePolicy | None = None,
        deferrable: bool | None = None,
        wait_for_registration: bool = False,
        poke_interval: float | timedelta = 5.0,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.service_name = service_name
        self.outlive_conn_id = outlive_conn_id
        self.policy = policy
        self.wait_for_registration = wait_for_registration
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._hook_cache: OutliveRegistryHook | None = None
        self.service_url: str | None = None

    def execute(self, context: Context) -> Any:
        """Poke/reschedule as Airflow does; deferrable: check once, then hand over to the trigger."""
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first:
            return first.xcom_value if isinstance(first, PokeReturnValue) else None
        from airflow_ext.triggers import ServiceActiveTrigger

        self.defer(
            trigger=ServiceActiveTrigger(
                service=self.service_name,
                outlive_conn_id=self.outlive_conn_id,
                timeout=self.timeout,
                policy=self._policy_settings(),
                wait_for_registration=self.wait_for_registration,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + _DEFER_GRACE),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One observation through the core; False while the service is not ready."""
        from plugin_core import ServiceNotFoundError, check_service_once

        try:
            snapshot = check_service_once(
                self.service_name,
                registry=self._registry(),
                wait_for_registration=self.wait_for_registration,
            )
        except ServiceNotFoundError as exc:
            raise AirflowFailException(str(exc)) from None
        if snapshot.is_failed:
            raise AirflowFailException(
                _failure(self.service_name, snapshot.message, snapshot.log_tail)
            )
        if not snapshot.is_active:
            self.log.info("Service %s not active yet: %s", self.service_name, snapshot.message)
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._info())

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: same outcomes as poke mode."""
        outcome_of_wait(event, self.service_name)
        self.log.info("Service %s is active (waited in the triggerer)", self.service_name)
        return self._info()

    def _policy_settings(self) -> dict[str, Any]:
        """The trigger's probe policy as plain data; ``poke_interval`` caps its back-off."""
        from plugin_core import ProbePolicy

        policy = self.policy or ProbePolicy(period=min(max(self.poke_interval, 0.01), 3600.0))
        return policy.model_dump(mode="json")

    def _registry(self) -> ServiceRegistry:
        return self._hook().get_registry()

    def _hook(self) -> OutliveRegistryHook:
        if self._hook_cache is None:
            from airflow_ext.hooks import OutliveRegistryHook

            self._hook_cache = OutliveRegistryHook(self.outlive_conn_id)
        return self._hook_cache

    def _info(self) -> dict[str, Any]:
        info = self._hook().wait_for_service(self.service_name, timeout=30.0)  # `active`, once
        self.service_url = info.get("url")
        return info


def outcome_of_wait(
    event: dict[str, Any], name: str, *, timeout_error: type[Exception] = AirflowSensorTimeout
) -> None:
    """Return when the trigger's event says ACTIVE; raise what the same outcome raises in
    the worker otherwise (a failure with the reason and log tail, or ``timeout_error``)."""
    status = event.get("status")
    if status == "active":
        return
    message = str(event.get("message", ""))
    if status == "timeout":
        raise timeout_error(f"Service {name!r} not active: {message}")
    if status == "error":
        raise AirflowFailException(_failure(name, message, event.get("log_tail")))
    if status == "not_found":
        raise AirflowFailException(message)
    raise AirflowException(f"Unexpected event from ServiceActiveTrigger: {event!r}")


def _failure(name: str, reason: Any, log_tail: Any) -> str:
    from airflow_ext.triggers import tail_text

    tail = tail_text(log_tail)
    message = f"Service {name!r} failed: {reason}"
    return f"{message}\n--- last log lines ---\n{tail}" if tail else message
