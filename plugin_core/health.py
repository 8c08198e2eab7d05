"""Turn one backend check plus one probe into an observed state, with the probe policy's thresholds.

Start-up and liveness are judged apart: until the service has been ready once,
a failed probe only means "not ready yet" (PENDING_STARTUP) and the start-up
budget is what limits the wait; after that, ``failure_threshold`` failures in a
row are needed to call it ERROR, so one slow answer does not flip a healthy
service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugin_core.hosts import observable_here
from plugin_core.observation import observe_once

if TYPE_CHECKING:
    from plugin_core.model.monitors import ProbeResult
    from plugin_core.model.state import ServiceState
    from plugin_core.service import BaseService


def observe(service: BaseService, probe_timeout: float | None = None) -> ServiceState:
    """Update ``service.status`` (and its endpoint's) from one look; return the new state.

    ``probe_timeout`` bounds the health check, so a caller's deadline holds even when the
    service accepts connections but does not answer. A service whose processes run on another
    host keeps the state its owner recorded: this host cannot look (:mod:`plugin_core.hosts`).
    The rules are :func:`plugin_core.observation.observe_once`'s (``outlive list`` uses them too).
    """
    if not observable_here(service):
        return service.status.state
    endpoint = service.endpoint

    def probe() -> ProbeResult:
        assert endpoint is not None
        return endpoint.probe(probe_timeout)

    def thresholds() -> tuple[int, int]:
        policy = service.probe_policy
        return policy.success_threshold, policy.failure_threshold

    return observe_once(
        service.status,
        endpoint.status if endpoint is not None else None,
        service.check_status,
        probe,
        thresholds,
    )
