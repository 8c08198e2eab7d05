"""The health monitors outlive ships: an HTTP request that must get an accepted status code,
and a TCP connection that must be accepted.

They live apart from :mod:`plugin_core.model.monitors` (what a monitor is) so that defining a
service class, which needs only the base, does not define these four models too.
"""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

from typing import TYPE_CHECKING, Annotated

from annotated_types import Ge, Gt, Le
from pydantic import Field, field_validator

from plugin_core.model.duck_serialized import DuckSerialized
from plugin_core.model.monitors import (
    BaseServiceEndpointHealthMonitor,
    BaseServiceEndpointHealthMonitorConfig,
    ProbeResult,
)

if TYPE_CHECKING:
    from plugin_core.model.endpoint import BaseServiceEndpoint


class HTTPEndpointHealthMonitorConfig(BaseServiceEndpointHealthMonitorConfig):
    """An HTTP check: ``GET`` (or ``HEAD``) of a path must answer with an accepted status code.

    ``http_status_codes`` widens ZenML's single ``http_status_code`` to a set, for servers
    that answer 204 or redirect on their health route.
    """

    healthcheck_uri_path: str = ""
    use_head_request: bool = False
    http_status_code: Annotated[int, Ge(100), Le(599)] = 200
    http_status_codes: set[int] | None = None
    http_timeout: Annotated[float, Gt(0), Le(600)] = 5.0

    @field_validator("http_status_codes")
    @classmethod
    def _codes_in_range(cls, codes: set[int] | None) -> set[int] | None:
        if codes is not None:
            bad = sorted(code for code in codes if not 100 <= code <= 599)
            if bad or not codes:
                raise ValueError(f"http_status_codes must be HTTP codes 100-599, got {bad or 'none'}")
        return codes

    def accepted_codes(self) -> set[int]:
        """The status codes that count as healthy."""
        from plugin_core.observation import accepted_codes

        return accepted_codes(self.http_status_codes, self.http_status_code)


class TCPEndpointHealthMonitorConfig(BaseServiceEndpointHealthMonitorConfig):
    """A TCP check: a connection to the port must be accepted within ``timeout`` seconds."""

    timeout: Annotated[float, Gt(0), Le(600)] = 1.0


class HTTPEndpointHealthMonitor(BaseServiceEndpointHealthMonitor):
    """Healthy when an HTTP request to the endpoint's health path gets an accepted code."""

    config: DuckSerialized[HTTPEndpointHealthMonitorConfig] = Field(
        default_factory=HTTPEndpointHealthMonitorConfig
    )

    def get_healthcheck_uri(self, endpoint: "BaseServiceEndpoint") -> str | None:
        """The full URL probed, or None before the endpoint has an address."""
        from plugin_core.observation import healthcheck_uri

        uri = endpoint.status.uri
        return healthcheck_uri(uri, self.config.healthcheck_uri_path) if uri is not None else None

    def probe(self, endpoint: "BaseServiceEndpoint", timeout: float | None = None) -> ProbeResult:
        from plugin_core.probes import probe_http

        url = self.get_healthcheck_uri(endpoint)
        if url is None:
            return ProbeResult(ok=False, detail="endpoint has no address yet")
        return probe_http(
            url,
            method="HEAD" if self.config.use_head_request else "GET",
            accepted=self.config.accepted_codes(),
            timeout=self._timeout(self.config.http_timeout, timeout),
        )

    async def aprobe(self, endpoint: "BaseServiceEndpoint", timeout: float | None = None) -> ProbeResult:
        from plugin_core.probes import aprobe_http

        url = self.get_healthcheck_uri(endpoint)
        if url is None:
            return ProbeResult(ok=False, detail="endpoint has no address yet")
        return await aprobe_http(
            url,
            method="HEAD" if self.config.use_head_request else "GET",
            accepted=self.config.accepted_codes(),
            timeout=self._timeout(self.config.http_timeout, timeout),
        )


class TCPEndpointHealthMonitor(BaseServiceEndpointHealthMonitor):
    """Healthy when the endpoint's port accepts a TCP connection."""

    config: DuckSerialized[TCPEndpointHealthMonitorConfig] = Field(
        default_factory=TCPEndpointHealthMonitorConfig
    )

    def probe(self, endpoint: "BaseServiceEndpoint", timeout: float | None = None) -> ProbeResult:
        from plugin_core.probes import probe_tcp

        host, port = endpoint.status.hostname, endpoint.status.port
        if not host or not port:
            return ProbeResult(ok=False, detail="endpoint has no address yet")
        return probe_tcp(host, port, timeout=self._timeout(self.config.timeout, timeout))

    async def aprobe(self, endpoint: "BaseServiceEndpoint", timeout: float | None = None) -> ProbeResult:
        from plugin_core.probes import aprobe_tcp

        host, port = endpoint.status.hostname, endpoint.status.port
        if not host or not port:
            return ProbeResult(ok=False, detail="endpoint has no address yet")
        return await aprobe_tcp(host, port, timeout=self._timeout(self.config.timeout, timeout))
