"""Health monitors: the configuration of a check, and the check itself.

The network work lives in :mod:`plugin_core.probes`; a monitor only knows what
to ask (path, method, accepted codes) and turns the answer into a
:class:`ProbeResult`. Probes return results, never raise, so a refused
connection during start-up reads as "not ready yet".

A monitor implements either :meth:`~BaseServiceEndpointHealthMonitor.probe` (ours: takes the
caller's deadline) or ZenML's ``check_endpoint_status`` (returns ``(ServiceState, message)``);
each one is defined through the other, so a ZenML-style monitor works unchanged.

The two monitors outlive ships, HTTP and TCP, are in :mod:`plugin_core.model.standard_monitors`:
a service class needs only the base, so importing one does not define them.
"""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each string again for every subclass. See plugin_core.model.deferred.

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from plugin_core.model.deferred import DeferredSignature
from plugin_core.model.duck_serialized import DuckSerialized
from plugin_core.model.probe_policy import ProbePolicy
from plugin_core.model.state import ServiceState
from plugin_core.model.typed import BaseTypedModel

if TYPE_CHECKING:
    from plugin_core.model.endpoint import BaseServiceEndpoint


class ProbeResult(BaseModel):
    """Outcome of one health check: ``ok`` and a human-readable ``detail``."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    __signature__ = DeferredSignature()

    ok: bool
    detail: str = ""



class BaseServiceEndpointHealthMonitorConfig(BaseTypedModel):
    """Settings shared by all monitors: the probe timing and thresholds."""

    probe: ProbePolicy = Field(default_factory=ProbePolicy)


ServiceEndpointHealthMonitorConfig = BaseServiceEndpointHealthMonitorConfig
"""ZenML's name for the base monitor configuration."""


class BaseServiceEndpointHealthMonitor(BaseTypedModel):
    """Checks whether an endpoint answers; subclasses define how."""

    config: DuckSerialized[ServiceEndpointHealthMonitorConfig] = Field(
        default_factory=ServiceEndpointHealthMonitorConfig
    )

    @property
    def policy(self) -> ProbePolicy:
        """The probe timing and thresholds to use with this monitor."""
        return self.config.probe

    def probe(self, endpoint: "BaseServiceEndpoint", timeout: float | None = None) -> ProbeResult:
        """Check the endpoint once, within ``timeout`` seconds if given (a caller's deadline).

        The default asks :meth:`check_endpoint_status`, for monitors written the ZenML way
        (they bound their own time); healthy means it answered ACTIVE."""
        if type(self).check_endpoint_status is BaseServiceEndpointHealthMonitor.check_endpoint_status:
            raise NotImplementedError(
                f"{type(self).__name__} must implement probe() or check_endpoint_status()"
            )
        state, message = self.check_endpoint_status(endpoint)
        return ProbeResult(ok=ServiceState(state) == ServiceState.ACTIVE, detail=message)

    async def aprobe(self, endpoint: "BaseServiceEndpoint", timeout: float | None = None) -> ProbeResult:
        """Check the endpoint once without blocking the event loop."""
        import asyncio

        return await asyncio.to_thread(self.probe, endpoint, timeout)

    def _timeout(self, own: float, limit: float | None) -> float:
        from plugin_core.observation import probe_timeout

        return probe_timeout(own, self.policy.timeout, limit)

    def check_endpoint_status(self, endpoint: "BaseServiceEndpoint") -> tuple[ServiceState, str]:
        """ZenML's form of :meth:`probe`: ``(ACTIVE, "")`` when healthy, else ``(ERROR, why)``."""
        if type(self).probe is BaseServiceEndpointHealthMonitor.probe:
            raise NotImplementedError(
                f"{type(self).__name__} must implement probe() or check_endpoint_status()"
            )
        result = self.probe(endpoint)
        return (ServiceState.ACTIVE, "") if result.ok else (ServiceState.ERROR, result.detail)
