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
from plugin_core.model.state import ServiceState

if TYPE_CHECKING:
    from plugin_core.service import BaseService


def observe(service: BaseService, probe_timeout: float | None = None) -> ServiceState:
    """Update ``service.status`` (and its endpoint's) from one look; return the new state.

    ``probe_timeout`` bounds the health check, so a caller's deadline holds even when the
    service accepts connections but does not answer. A service whose processes run on another
    host keeps the state its owner recorded: this host cannot look (:mod:`plugin_core.hosts`).
    """
    if not observable_here(service):
        return service.status.state
    state, message = service.check_status()
    status = service.status
    if state == ServiceState.ACTIVE and service.endpoint is not None:
        state, message = _judge_probe(service, probe_timeout)
    elif state != ServiceState.ACTIVE and service.endpoint is not None:
        service.endpoint.status.update_state(ServiceState.INACTIVE)
    if state == ServiceState.ERROR:
        status.update_state(state, message)
    else:
        status.update_state(state)
        if message and state == ServiceState.PENDING_STARTUP:
            status.last_probe = message
    return state


def _judge_probe(service: BaseService, timeout: float | None) -> tuple[ServiceState, str]:
    assert service.endpoint is not None
    policy = service.probe_policy
    status = service.status
    result = service.endpoint.probe(timeout)
    status.last_probe = result.detail
    if result.ok:
        status.consecutive_successes += 1
        status.consecutive_failures = 0
        if status.ready_once or status.consecutive_successes >= policy.success_threshold:
            status.ready_once = True
            service.endpoint.status.update_state(ServiceState.ACTIVE)
            return ServiceState.ACTIVE, ""
        return ServiceState.PENDING_STARTUP, result.detail
    status.consecutive_failures += 1
    status.consecutive_successes = 0
    if not status.ready_once:
        return ServiceState.PENDING_STARTUP, result.detail
    if status.consecutive_failures >= policy.failure_threshold:
        service.endpoint.status.update_state(ServiceState.ERROR, result.detail)
        return (
            ServiceState.ERROR,
            f"health check failed {status.consecutive_failures} times in a row: {result.detail}",
        )
    return ServiceState.ACTIVE, ""
