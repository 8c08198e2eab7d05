"""Where a service listens and how that is checked."""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

from enum import Enum
from typing import Annotated

from annotated_types import Ge, Le
from pydantic import Field, field_validator

from plugin_core.model.duck_serialized import DuckSerialized
from plugin_core.model.monitors import BaseServiceEndpointHealthMonitor, ProbeResult
from plugin_core.model.state import ServiceState
from plugin_core.model.status import ServiceStatus
from plugin_core.model.typed import BaseTypedModel


class ServiceEndpointProtocol(str, Enum):
    """Protocols an endpoint can speak."""

    HTTP = "http"
    HTTPS = "https"
    TCP = "tcp"

    def __str__(self) -> str:
        return self.value


class ServiceEndpointConfig(BaseTypedModel):
    """The address a user asks for. Binds to loopback unless told otherwise."""

    protocol: ServiceEndpointProtocol = ServiceEndpointProtocol.TCP
    ip_address: str = "127.0.0.1"
    port: Annotated[int | None, Ge(1), Le(65535)] = None
    allocate_port: bool = True
    name: str = ""
    description: str = ""

    @field_validator("ip_address")
    @classmethod
    def _usable_address(cls, value: str) -> str:
        from plugin_core.model.addresses import check_address

        return check_address(value)

    @field_validator("protocol", mode="before")
    @classmethod
    def _known_protocol(cls, value: object) -> object:
        if isinstance(value, str) and value.lower() not in {p.value for p in ServiceEndpointProtocol}:
            raise ValueError(f"unknown protocol {value!r}: use one of 'http', 'https', 'tcp'")
        return value.lower() if isinstance(value, str) else value


class ServiceEndpointStatus(ServiceStatus):
    """The address a service actually got."""

    protocol: ServiceEndpointProtocol = ServiceEndpointProtocol.TCP
    hostname: str | None = None
    port: int | None = None

    @property
    def uri(self) -> str | None:
        """``protocol://hostname:port``, or None before a port is known."""
        from plugin_core.observation import endpoint_uri

        return endpoint_uri(self.protocol.value, self.hostname, self.port)


class BaseServiceEndpoint(BaseTypedModel):
    """An address plus the monitor that tells whether it answers."""

    admin_state: ServiceState = ServiceState.INACTIVE
    config: DuckSerialized[ServiceEndpointConfig] = Field(default_factory=ServiceEndpointConfig)
    status: DuckSerialized[ServiceEndpointStatus] = Field(default_factory=ServiceEndpointStatus)
    monitor: DuckSerialized[BaseServiceEndpointHealthMonitor] | None = None

    def probe(self, timeout: float | None = None) -> ProbeResult:
        """One health check of the current address; refused connections are a result, not an error."""
        if self.monitor is None:
            if self.status.port:
                return ProbeResult(ok=True, detail="no health monitor configured")
            return ProbeResult(ok=False, detail="no port assigned yet")
        return self.monitor.probe(self, timeout)

    def check_status(self) -> tuple[ServiceState, str]:
        """The monitor's verdict (``check_endpoint_status``); without a monitor, ACTIVE once a
        port is assigned, else INACTIVE."""
        if self.monitor is None:
            result = self.probe()
            return (ServiceState.ACTIVE, "") if result.ok else (ServiceState.INACTIVE, result.detail)
        return self.monitor.check_endpoint_status(self)

    def update_status(self) -> None:
        """Check once and record the outcome in ``status``."""
        state, error = self.check_status()
        self.status.update_state(state, error)

    def is_active(self) -> bool:
        """Checked now, through the monitor: does the endpoint answer?"""
        self.update_status()
        return self.status.state == ServiceState.ACTIVE

    def is_inactive(self) -> bool:
        """Checked now, through the monitor: is the endpoint unresponsive (INACTIVE or ERROR)?"""
        self.update_status()
        return self.status.state in (ServiceState.INACTIVE, ServiceState.ERROR)
