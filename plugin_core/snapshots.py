"""Plain-data views of a service, for sensors, triggers, tasks, XCom and ``--json`` output.

Orchestrators must not hold live service objects (they are pickled, serialised or sent
to another process), so adapters get dictionaries and :class:`ServiceSnapshot` values.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from plugin_core.errors import ServiceNotFoundError
from plugin_core.model.state import ServiceState
from plugin_core.waiting import await_until

if TYPE_CHECKING:
    from plugin_core.model.probe_policy import ProbePolicy
    from plugin_core.registry.store import ServiceRegistry
    from plugin_core.service import BaseService


@dataclass(frozen=True)
class ServiceSnapshot:
    """One observation: state, why, where, and the log tail when it failed."""

    name: str
    uuid: str
    state: str
    message: str = ""
    url: str | None = None
    log_tail: list[str] = field(default_factory=list)

    @property
    def is_active(self) -> bool:
        return self.state == ServiceState.ACTIVE.value

    @property
    def is_failed(self) -> bool:
        return self.state == ServiceState.ERROR.value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def service_info(service: BaseService) -> dict[str, Any]:
    """A JSON-able summary: identity, states, addresses, error, and process or container ids."""
    status = service.status
    info: dict[str, Any] = {
        "uuid": str(service.uuid),
        "name": service.config.service_name,
        "type": service.type,
        "kind": f"{service.SERVICE_TYPE.type}/{service.SERVICE_TYPE.flavor}",
        "admin_state": service.admin_state.value,
        "state": status.state.value,
        "url": service.endpoint.status.uri if service.endpoint is not None else None,
        "prediction_url": service.get_prediction_url(),
        "healthcheck_url": service.get_healthcheck_url(),
        "last_error": status.last_error,
        "last_probe": status.last_probe,
        "exit_code": status.exit_code,
        "labels": service.config.get_service_labels(),
    }
    for extra in ("pid", "container_id", "runtime_path", "restarts"):
        value = getattr(status, extra, None)
        if value is not None:
            info[extra] = value
    if service.created_at is not None:
        info["created_at"] = service.created_at.isoformat()
    return info


def snapshot(service: BaseService) -> ServiceSnapshot:
    """The service's current observation as plain data (with the log tail on failure)."""
    state = service.status.state
    message = service.status.last_error if state == ServiceState.ERROR else service.status.last_probe
    return ServiceSnapshot(
        name=service.config.service_name,
        uuid=str(service.uuid),
        state=state.value,
        message=message,
        url=service.get_prediction_url(),
        log_tail=service.log_tail(50) if state == ServiceState.ERROR else [],
    )


def check_service_once(ref: str, *, registry: ServiceRegistry | None = None) -> ServiceSnapshot:
    """Observe the service once. A refused connection or a missing record is a state, not an error."""
    from plugin_core.lifecycle import get_service

    try:
        service = get_service(ref, registry=registry, refresh=True)
    except ServiceNotFoundError as exc:
        return ServiceSnapshot(name=ref, uuid="", state=ServiceState.INACTIVE.value, message=str(exc))
    return snapshot(service)


async def await_service_active(
    ref: str,
    *,
    registry_url: str | None = None,
    timeout: float = 300.0,
    policy: ProbePolicy | None = None,
) -> ServiceSnapshot:
    """Wait in asyncio until the service is ACTIVE or ERROR, or ``timeout`` passes.

    Returns the last snapshot either way; the caller decides what a timeout means.
    Each check runs in a worker thread, so the event loop (a triggerer's) never blocks.
    """
    import asyncio

    from plugin_core.model.probe_policy import ProbePolicy
    from plugin_core.registry.store import ServiceRegistry

    registry = ServiceRegistry(registry_url)
    last: list[ServiceSnapshot] = []

    async def check() -> ServiceSnapshot | None:
        current = await asyncio.to_thread(check_service_once, ref, registry=registry)
        last[:] = [current]
        return current if current.is_active or current.is_failed else None

    started = time.monotonic()
    result = await await_until(check, timeout=timeout, policy=policy or ProbePolicy(period=5.0))
    if result is not None:
        return result
    final = last[0] if last else ServiceSnapshot(name=ref, uuid="", state="unknown")
    waited = time.monotonic() - started
    return ServiceSnapshot(
        name=final.name,
        uuid=final.uuid,
        state=final.state,
        message=f"not active after {waited:.1f}s; last check: {final.message}",
        url=final.url,
    )
