"""The HTTP endpoint factory every backend's ``http_endpoint`` helper builds on.

Backends differ in the endpoint class (a local port, a port published from a container) and
its extra fields; the common case is always the same: an HTTP endpoint on ``host`` with an
HTTP health monitor on ``health_path``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from plugin_core.errors import ConfigError
from plugin_core.model.endpoint import (
    BaseServiceEndpoint,
    ServiceEndpointConfig,
    ServiceEndpointProtocol,
)
from plugin_core.model.probe_policy import ProbePolicy

E = TypeVar("E", bound=BaseServiceEndpoint)


def http_endpoint_of(
    endpoint_type: type[E],
    config_type: type[ServiceEndpointConfig],
    *,
    port: int | None,
    health_path: str,
    host: str,
    allocate_port: bool,
    probe: ProbePolicy | None = None,
    **config_fields: Any,
) -> E:
    """An ``endpoint_type`` speaking HTTP on ``host:port`` (None: a free port), checked by an
    HTTP monitor on ``health_path`` with ``probe``'s timing (default: the default policy)."""
    # Here, not at module level: a service class's import need not define the HTTP monitor.
    from plugin_core.model.standard_monitors import (
        HTTPEndpointHealthMonitor,
        HTTPEndpointHealthMonitorConfig,
    )

    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"port must be between 1 and 65535, got {port}")
    monitor_fields: dict[str, Any] = {"healthcheck_uri_path": health_path}
    if probe is not None:
        monitor_fields["probe"] = probe
    return endpoint_type(
        config=config_type(
            protocol=ServiceEndpointProtocol.HTTP, ip_address=host, port=port,
            allocate_port=allocate_port, **config_fields,
        ),
        monitor=HTTPEndpointHealthMonitor(config=HTTPEndpointHealthMonitorConfig(**monitor_fields)),
    )
