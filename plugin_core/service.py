"""``BaseService``: the ZenML service object, with a lifecycle that tells the truth.

A service is a typed model (config, status, endpoint) plus behaviour supplied
by a backend: :meth:`check_status`, :meth:`provision`, :meth:`deprovision` and
:meth:`get_logs`, and the rest of the contract in :mod:`plugin_core.backends.contract`. Starting, stopping and waiting go through
:mod:`plugin_core.lifecycle`, which makes start idempotent by name, persists
every transition in the registry and raises instead of pretending.
"""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

import functools
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from pydantic import Field, PrivateAttr, model_validator

from plugin_core.backends.contract import ServiceBackend
from plugin_core.model.config import ServiceConfig, generated_service_name
from plugin_core.model.duck_serialized import DuckSerialized
from plugin_core.model.endpoint import BaseServiceEndpoint
from plugin_core.model.service_type import ServiceType
from plugin_core.model.state import ServiceState
from plugin_core.model.status import ServiceStatus
from plugin_core.model.typed import BaseTypedModel, reloading_script

if TYPE_CHECKING:
    from plugin_core.model.probe_policy import ProbePolicy
    from plugin_core.registry.store import ServiceRecord, ServiceRegistry

T = TypeVar("T", bound=Callable[..., Any])


def update_service_status(
    pre_status: ServiceState | None = None,
    post_status: ServiceState | None = None,
    error_status: ServiceState = ServiceState.ERROR,
) -> Callable[[T], T]:
    """Decorate a service method to set ``pre_status`` before it, ``post_status`` after a normal
    return and ``error_status`` (with the error text) if it raises; the exception propagates."""

    def decorator(method: T) -> T:
        @functools.wraps(method)
        def wrapper(self: "BaseService", *args: Any, **kwargs: Any) -> Any:
            if pre_status is not None:
                self.status.update_state(pre_status)
            try:
                result = method(self, *args, **kwargs)
            except Exception as exc:
                self.status.update_state(error_status, str(exc).splitlines()[0] if str(exc) else "")
                raise
            if post_status is not None:
                self.status.update_state(post_status)
            return result

        return wrapper  # type: ignore[return-value]

    return decorator


class BaseService(BaseTypedModel, ServiceBackend):
    """A long-running service: what was asked (``admin_state``, ``config``) and what is seen
    (``status``, ``endpoint``). What a backend implements (and what the core calls) is
    :class:`~plugin_core.backends.contract.ServiceBackend`."""

    SERVICE_TYPE: ClassVar[ServiceType] = ServiceType(type="base", flavor="base")

    uuid: UUID = Field(default_factory=uuid4)
    admin_state: ServiceState = ServiceState.INACTIVE
    config: DuckSerialized[ServiceConfig]
    status: DuckSerialized[ServiceStatus] = Field(default_factory=ServiceStatus)
    endpoint: DuckSerialized[BaseServiceEndpoint] | None = None

    _registry: "ServiceRegistry | None" = PrivateAttr(default=None)
    _registry_version: int | None = PrivateAttr(default=None)
    _created_at: datetime | None = PrivateAttr(default=None)
    _updated_at: datetime | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _name_a_nameless_config(self) -> "BaseService":
        """A config given no name is named after this service's class and uuid (stable once
        stored); the config object itself is left as it was, so it can serve another service."""
        if self.config.name_generated:
            name = generated_service_name(type(self), self.uuid.hex)
            object.__setattr__(self, "config", self.config.renamed(name))
        return self

    @classmethod
    def from_model(cls, model: "ServiceRecord") -> "BaseService":
        """Rebuild a service from its registry record, as ZenML rebuilds one from its server's
        ``ServiceResponse``: the class named by the record's type (imported, or loaded from its
        script), with the record's uuid, admin state, config, status and endpoint."""
        from plugin_core.model.typed import parse_document

        data: dict[str, Any] = {
            "type": model.type,
            "uuid": model.uuid,
            "admin_state": model.admin_state,
            "config": parse_document(model.config),
            "status": parse_document(model.status),
        }
        if model.endpoint is not None:
            data["endpoint"] = parse_document(model.endpoint)
        service = cls.from_dict(data)
        service.registry_version = model.version
        service.created_at, service.updated_at = model.created_at, model.updated_at
        return service

    # -- lifecycle (delegated to plugin_core.lifecycle) ----------------------------------------

    def start(self, timeout: float | None = None) -> None:
        """Start (or reuse, if the same config already runs) and wait until ACTIVE.

        ``timeout`` is how long to wait: None waits the probe policy's ``startup_timeout``;
        ``0`` returns right after the launch, as in ZenML (then :meth:`poll_service_status`).
        Raises :class:`StartTimeoutError` or :class:`ServiceFailedError` instead of returning
        a service that is not ACTIVE, and raises at once when the launch itself fails.
        """
        from plugin_core.lifecycle import start_service

        if reloading_script():
            return
        wait = timeout is None or timeout > 0
        started = start_service(self, registry=self._registry, timeout=timeout, wait=wait)
        self._adopt(started)

    def stop(self, timeout: float = 10.0, force: bool = False) -> None:
        """Stop the whole process tree (SIGTERM, ``timeout`` seconds grace, then SIGKILL)."""
        from plugin_core.lifecycle import stop_service

        if reloading_script():
            return
        self._adopt(stop_service(self, registry=self._registry, timeout=timeout, force=force))

    def update(self, config: ServiceConfig) -> None:
        """Replace the config, as ZenML does: nothing is restarted or saved here. To apply a
        new config to a registered service (restarting it if it runs), use
        :func:`~plugin_core.lifecycle.update_service`. A nameless ``config`` keeps this
        service's name."""
        if config.name_generated:
            config = config.renamed(self.config.service_name)
        self.config = config

    def update_status(self) -> None:
        """Observe the backend and the endpoint once, applying the probe policy's thresholds."""
        from plugin_core.health import observe

        observe(self)

    def poll_service_status(self, timeout: int | float = 0) -> bool:
        """Wait until the observed state matches ``admin_state``; False on failure or timeout."""
        from plugin_core.lifecycle import settle

        if reloading_script():
            return False
        return settle(self, timeout=float(timeout)) == self.admin_state

    # -- views ----------------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Observed now: ACTIVE (and healthy)."""
        self.update_status()
        return self.status.state == ServiceState.ACTIVE

    @property
    def is_stopped(self) -> bool:
        """Observed now: INACTIVE."""
        self.update_status()
        return self.status.state == ServiceState.INACTIVE

    @property
    def is_failed(self) -> bool:
        """Observed now: ERROR."""
        self.update_status()
        return self.status.state == ServiceState.ERROR

    @property
    def probe_policy(self) -> "ProbePolicy":
        """The monitor's probe policy, or the default one when there is no monitor."""
        from plugin_core.model.probe_policy import ProbePolicy

        if self.endpoint is not None and self.endpoint.monitor is not None:
            return self.endpoint.monitor.policy
        return ProbePolicy()

    def get_service_status_message(self) -> str:
        """A short human-readable summary of the wanted and observed states."""
        return (
            f"  Administrative state: `{self.admin_state.value}`\n"
            f"  Operational state: `{self.status.state.value}`\n"
            f"  Last status message: '{self.status.last_error}'\n"
        )

    def get_healthcheck_url(self) -> str | None:
        """The URL the HTTP monitor probes, if the service has one."""
        if self.endpoint is None or self.endpoint.monitor is None:
            return None
        getter = getattr(self.endpoint.monitor, "get_healthcheck_uri", None)
        return getter(self.endpoint) if getter is not None else None

    def get_prediction_url(self) -> str | None:
        """Where to send requests: the endpoint's URI (plus a prediction path, if configured)."""
        from plugin_core.observation import joined_path

        uri = self.endpoint.status.uri if self.endpoint is not None else None
        return joined_path(uri, self.prediction_path()) if uri is not None else None

    # -- registry bookkeeping -------------------------------------------------------------------

    @property
    def registry(self) -> "ServiceRegistry | None":
        """The registry this object was loaded from or saved to, if any."""
        return self._registry

    def attach_registry(self, registry: "ServiceRegistry") -> None:
        """Remember the registry so later lifecycle calls on this object persist there."""
        self._registry = registry

    @property
    def registry_version(self) -> int | None:
        """The record version this object was read at (None: never saved)."""
        return self._registry_version

    @registry_version.setter
    def registry_version(self, version: int | None) -> None:
        self._registry_version = version

    @property
    def created_at(self) -> datetime | None:
        """When the registry record was created."""
        return self._created_at

    @created_at.setter
    def created_at(self, value: datetime | None) -> None:
        self._created_at = value

    @property
    def updated_at(self) -> datetime | None:
        """When the registry record was last written."""
        return self._updated_at

    @updated_at.setter
    def updated_at(self, value: datetime | None) -> None:
        self._updated_at = value

    def _adopt(self, other: "BaseService") -> None:
        """Make this object mirror ``other`` (the registry's copy) after a lifecycle call."""
        if other is self:
            return
        for field in ("uuid", "admin_state", "config", "status", "endpoint"):
            object.__setattr__(self, field, getattr(other, field))
        self._registry = other._registry
        self._registry_version = other._registry_version
        self._created_at, self._updated_at = other._created_at, other._updated_at

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.config.service_name!r}, uuid={self.uuid}, "
            f"state={self.status.state.value})"
        )

    def __str__(self) -> str:
        return f"{type(self).__name__}[{self.uuid}] (name: {self.config.service_name})"

