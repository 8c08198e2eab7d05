"""Operators that start, stop and update outlive services.

Each operator maps its arguments onto one ``plugin_core`` function and returns the core's
``service_info`` dict (uuid, name, state, URL, ...) so downstream tasks can read it from
XCom. No lifecycle decision is made here: idempotency by name (a retried start reuses the
running service), waiting and error reporting all live in the core.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from airflow.sdk import BaseOperator

from airflow_ext.links import ServiceLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from plugin_core import BaseService, ServiceRegistry

    ServiceDefinition = BaseService | dict[str, Any] | str

__all__ = ["StartServiceOperator", "StopServiceOperator", "UpdateServiceOperator"]

_PROGRESS_EVERY = 10.0  # seconds between "still waiting" log lines


class _ServiceOperator(BaseOperator):
    """Shared argument handling: the registry connection and the service URL for links."""

    ui_color = "#c9e4de"

    def __init__(self, *, outlive_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outlive_conn_id = outlive_conn_id
        self.service_url: str | None = None
        self._last_progress = 0.0

    def _registry(self) -> ServiceRegistry:
        from airflow_ext.hooks import OutliveRegistryHook

        return OutliveRegistryHook(self.outlive_conn_id).get_registry()

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

    def _report(self, verb: str, service: BaseService) -> dict[str, Any]:
        from plugin_core import service_info

        info = service_info(service)
        self.service_url = info.get("url")
        self.log.info(
            "%s service %s (uuid %s): state %s, url %s",
            verb,
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
    :param outlive_conn_id: an ``outlive`` connection; None uses the core default registry.
    :param start_timeout: seconds to wait for the service to become ACTIVE (core default:
        the probe policy's ``startup_timeout``).
    :param wait_for_active: False returns as soon as the service is launched, so a
        deferrable ``ServiceActiveSensor`` can wait without holding a worker slot.
    :param on_change: what to do when a service of the same name runs with another config:
        "restart" it with the new one, or "fail".
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.start_timeout = start_timeout
        self.wait_for_active = wait_for_active
        self.on_change = on_change

    def execute(self, context: Context) -> dict[str, Any]:
        from plugin_core import load_service, start_service

        started = start_service(
            load_service(self.service),
            registry=self._registry(),
            timeout=self.start_timeout,
            on_change=self.on_change,
            wait=self.wait_for_active,
            on_progress=self._progress,
        )
        return self._report("Started", started)


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
        from plugin_core import ServiceNotFoundError, stop_service

        try:
            stopped = stop_service(
                self.service_name,
                registry=self._registry(),
                timeout=self.stop_timeout,
                force=self.force,
            )
        except ServiceNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("No service %r is registered; nothing to stop", self.service_name)
            return None
        return self._report("Stopped", stopped)


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
        from plugin_core import load_service, update_service

        definition = load_service(self.service)
        updated = update_service(
            self.service_name or definition.config.service_name,
            definition,
            registry=self._registry(),
            timeout=self.update_timeout,
            wait=self.wait_for_active,
        )
        return self._report("Updated", updated)
