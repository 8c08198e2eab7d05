"""Operators that start, stop, update, delete and prune outlive services.

Each operator maps its arguments onto one method of ``OutliveRegistryHook`` (which calls one
``plugin_core`` function) and returns the core's ``service_info`` dict (uuid, name, state,
URL, ...) so downstream tasks can read it from XCom. No lifecycle decision is made here:
idempotency by name (a retried start reuses the running service), waiting and error
reporting all live in the core.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from airflow.sdk import BaseOperator

from airflow_ext._compat import default_deferrable
from airflow_ext.links import ServiceLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_ext.hooks import OutliveRegistryHook
    from plugin_core import BaseService

    ServiceDefinition = BaseService | dict[str, Any] | str

__all__ = [
    "DeleteServiceOperator",
    "PruneServicesOperator",
    "StartServiceOperator",
    "StopServiceOperator",
    "UpdateServiceOperator",
]

_PROGRESS_EVERY = 10.0  # seconds between "still waiting" log lines
_DEFER_GRACE = 60.0  # the trigger times itself out; this only catches a lost trigger
_OUTCOME_KEY = "outlive_outcome"


class _ServiceOperator(BaseOperator):
    """Shared argument handling: the registry connection and the service URL for links."""

    ui_color = "#c9e4de"

    def __init__(self, *, outlive_conn_id: str | None = "outlive_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outlive_conn_id = outlive_conn_id
        self.service_url: str | None = None
        self._last_progress = 0.0

    @property
    def hook(self) -> OutliveRegistryHook:
        from airflow_ext.hooks import OutliveRegistryHook

        return OutliveRegistryHook(self.outlive_conn_id)

    def _progress(self, service: BaseService, elapsed: float) -> None:
        """Log the wait for ACTIVE every few seconds, so a slow model load is visible in the task log."""
        if elapsed - self._last_progress >= _PROGRESS_EVERY:
            self._last_progress = elapsed
            self.log.info(
                "Waiting for %s: %s after %.0fs (%s)",
                service.config.service_name,
                service.status.state.value,
                elapsed,
                service.status.last_probe,
            )

    def _report(self, verb: str, info: dict[str, Any]) -> dict[str, Any]:
        """Log and return the info; the verb is the core's outcome when it reported one."""
        self.service_url = info.get("url")
        self.log.info(
            "%s service %s (uuid %s): state %s, url %s",
            str(info.get("outcome") or verb).capitalize(),
            info.get("name"),
            info.get("uuid"),
            info.get("state"),
            info.get("url"),
        )
        return info


class StartServiceOperator(_ServiceOperator):
    """Start a service, or reuse it if a service of that name already runs.

    :param service: the definition: a core service object, its dict, or its JSON/YAML text
        (templated, so values such as ports or model versions can come from Jinja).
    :param outlive_conn_id: an ``outlive`` connection; ``outlive_default`` falls back to the
        core default registry when that connection is not defined; None skips the lookup.
    :param start_timeout: seconds to wait for the service to become ACTIVE (core default:
        the probe policy's ``startup_timeout``).
    :param wait_for_active: False returns as soon as the service is launched, so a
        deferrable ``ServiceActiveSensor`` can wait without holding a worker slot.
    :param on_change: what to do when a service of the same name runs with another config:
        "restart" it with the new one, or "fail".
    :param deferrable: start in the worker, then hand the wait for ACTIVE to
        ``ServiceActiveTrigger`` and free the slot (default: ``[operators] default_deferrable``).
        Outcomes are those of the waiting start: the service info, or a failure with the
        service's reason and log tail, or a timeout.
    """

    template_fields: Sequence[str] = ("service", "outlive_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"service": "json"}
    operator_extra_links = (ServiceLink(),)

    def __init__(
        self,
        *,
        service: ServiceDefinition,
        start_timeout: float | None = None,
        wait_for_active: bool = True,
        on_change: Literal["restart", "fail"] = "restart",
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.start_timeout = start_timeout
        self.wait_for_active = wait_for_active
        self.on_change = on_change
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    def execute(self, context: Context) -> dict[str, Any]:
        defer = self.deferrable and self.wait_for_active
        info = self.hook.start_service(
            self.service,
            timeout=self.start_timeout,
            on_change=self.on_change,
            wait=self.wait_for_active and not defer,
            on_progress=self._progress,
        )
        if defer and info["state"] != "active":
            # What the start did, for the resumed task (``airflow dags test`` drops defer kwargs).
            context["ti"].xcom_push(key=_OUTCOME_KEY, value=info.get("outcome"))
            self._defer_wait(info)
        return self._report("Started", info)

    def _defer_wait(self, info: dict[str, Any]) -> None:
        from airflow_ext.triggers import ServiceActiveTrigger
        from plugin_core import load_service

        policy = load_service(self.service).probe_policy
        timeout = policy.startup_timeout if self.start_timeout is None else self.start_timeout
        self.service_url = info.get("url")
        self.log.info("Launched %s; waiting for ACTIVE in the triggerer", info["name"])
        self.defer(
            trigger=ServiceActiveTrigger(
                service=info["name"],
                outlive_conn_id=self.outlive_conn_id,
                timeout=timeout,
                policy=policy.model_dump(mode="json"),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + _DEFER_GRACE),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: the same outcomes as a start that waited in the worker."""
        from airflow_ext._compat import AirflowException
        from airflow_ext.sensors import outcome_of_wait

        name = str((event.get("service") or {}).get("name", ""))
        outcome_of_wait(event, name, timeout_error=AirflowException)  # a timeout may be retried
        self.log.info("Service %s is active (waited in the triggerer)", name)
        info = self.hook.wait_for_service(name, timeout=30.0)  # reports `active` once
        outcome = context["ti"].xcom_pull(task_ids=self.task_id, key=_OUTCOME_KEY)
        return self._report("Started", {**info, "outcome": outcome})


class StopServiceOperator(_ServiceOperator):
    """Stop a service (its whole process tree) found by name or uuid.

    :param service_name: name or uuid of the service (templated; e.g. from a start task's XCom).
    :param stop_timeout: grace period in seconds before the core escalates to SIGKILL.
    :param force: skip the graceful stop.
    :param ignore_missing: succeed (returning None) when no such service is registered,
        so a clean-up DAG can run twice.
    """

    template_fields: Sequence[str] = ("service_name", "outlive_conn_id")
    ui_color = "#f4d6cc"

    def __init__(
        self,
        *,
        service_name: str,
        stop_timeout: float = 10.0,
        force: bool = False,
        ignore_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service_name = service_name
        self.stop_timeout = stop_timeout
        self.force = force
        self.ignore_missing = ignore_missing

    def execute(self, context: Context) -> dict[str, Any] | None:
        info = self.hook.stop_service(
            self.service_name,
            timeout=self.stop_timeout,
            force=self.force,
            ignore_missing=self.ignore_missing,
        )
        return None if info is None else self._report("Stopped", info)


class DeleteServiceOperator(StopServiceOperator):
    """Stop a service if it runs, then remove its registry record and runtime files.

    Same parameters as ``StopServiceOperator`` (``stop_timeout`` is unused: deletion stops
    with the service's own grace period; ``force`` kills at once and removes a record whose
    engine is gone). Returns the service's info from before the deletion.
    """

    ui_color = "#e8b4a8"

    def execute(self, context: Context) -> dict[str, Any] | None:
        info = self.hook.delete_service(
            self.service_name, force=self.force, ignore_missing=self.ignore_missing
        )
        return None if info is None else self._report("Deleted", info)


class PruneServicesOperator(_ServiceOperator):
    """Delete the records of stopped and failed services, and orphan runtime directories.

    :param dry_run: only report what would be removed (kept as ``report_only``: ``dry_run``
        is a method of every Airflow operator).

    Returns (XCom) ``{"deleted": [names], "swept_dirs": [...], "kept_dirs": [[dir, reason]]}``.
    """

    template_fields: Sequence[str] = ("outlive_conn_id",)
    ui_color = "#e8b4a8"

    def __init__(self, *, dry_run: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report_only = dry_run

    def execute(self, context: Context) -> dict[str, Any]:
        report = self.hook.prune_services(dry_run=self.report_only)
        self.log.info(
            "%s services %s and %d orphan directories",
            "Would prune" if self.report_only else "Pruned",
            report["deleted"] or "(none)",
            len(report["swept_dirs"]),
        )
        return report


class UpdateServiceOperator(_ServiceOperator):
    """Apply a new definition to a registered service (the core restarts it if needed).

    :param service: the new definition (object, dict or JSON/YAML text; templated).
    :param service_name: name or uuid of the service to change; defaults to the
        definition's own ``service_name``.
    :param update_timeout: seconds to wait for the updated service to become ACTIVE.
    :param wait_for_active: False returns as soon as the new version is launched.
    """

    template_fields: Sequence[str] = ("service_name", "service", "outlive_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"service": "json"}
    operator_extra_links = (ServiceLink(),)

    def __init__(
        self,
        *,
        service: ServiceDefinition,
        service_name: str | None = None,
        update_timeout: float | None = None,
        wait_for_active: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.service_name = service_name
        self.update_timeout = update_timeout
        self.wait_for_active = wait_for_active

    def execute(self, context: Context) -> dict[str, Any]:
        info = self.hook.update_service(
            self.service_name,
            self.service,
            timeout=self.update_timeout,
            wait=self.wait_for_active,
        )
        return self._report("Updated", info)
