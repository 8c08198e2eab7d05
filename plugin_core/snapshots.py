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
    """A JSON-able summary: identity, states, addresses, error, and what the backend says
    identifies the running thing (its ``runtime_facts``: pids, a container id...)."""
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
    if status.owner_host is not None:
        from plugin_core.hosts import observation_note

        info["host"] = status.owner_host.describe()
        note = observation_note(service)
        if note:
            info["observed"] = note
    files = service.runtime_files()
    facts = {**service.runtime_facts(), "runtime_path": str(files.path) if files else None}
    info.update({key: value for key, value in facts.items() if value is not None})
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


def check_service_once(
    ref: str, *, registry: ServiceRegistry | None = None, wait_for_registration: bool = False
) -> ServiceSnapshot:
    """One look of the one wait (:class:`~plugin_core.readiness.ActiveWatch`), for a sensor's
    poke: a refused connection is a state, not an error. A name nobody registered raises
    ServiceNotFoundError, unless ``wait_for_registration`` (then it is an INACTIVE snapshot
    saying so)."""
    from plugin_core.lifecycle import _registry
    from plugin_core.readiness import ActiveWatch
    from plugin_core.records import save_record

    watch = ActiveWatch(ref, _registry(registry), wait_for_registration=wait_for_registration)
    watch.look()
    if watch.service is None:
        return ServiceSnapshot(
            name=ref,
            uuid="",
            state=ServiceState.INACTIVE.value,
            message=f"not registered yet: {ServiceNotFoundError(ref)}",
        )
    save_record(watch.service, watch.registry, observation=True)
    return snapshot(watch.service)


async def await_service_active(
    ref: str,
    *,
    registry_url: str | None = None,
    timeout: float = 300.0,
    policy: ProbePolicy | None = None,
    wait_for_registration: bool = False,
) -> ServiceSnapshot:
    """Wait in asyncio until the service is ACTIVE or ERROR, or ``timeout`` passes.

    The same :class:`~plugin_core.readiness.ActiveWatch` as :func:`wait_for_service`, with the
    same rule for an unknown name (ServiceNotFoundError unless ``wait_for_registration``).
    Returns the last snapshot either way; the caller decides what a timeout means.
    Each look runs in a worker thread, so the event loop (a triggerer's) never blocks.
    """
    import asyncio

    from plugin_core.model.probe_policy import ProbePolicy
    from plugin_core.readiness import ActiveWatch
    from plugin_core.registry.store import ServiceRegistry
    from plugin_core.waiting import check_timeout

    timeout = check_timeout(timeout)
    watch = ActiveWatch(
        ref, ServiceRegistry(registry_url), wait_for_registration=wait_for_registration
    )

    async def check() -> ServiceState | None:
        return await asyncio.to_thread(watch.look)

    started = time.monotonic()
    await asyncio.to_thread(watch.refresh)  # an unknown name fails here, before any waiting
    result = await await_until(check, timeout=timeout, policy=policy or ProbePolicy(period=5.0))
    if watch.service is None:
        waited = time.monotonic() - started
        return ServiceSnapshot(
            name=ref, uuid="", state="unknown", message=f"not registered after {waited:.1f}s"
        )
    from plugin_core.records import save_record

    await asyncio.to_thread(save_record, watch.service, watch.registry, observation=True)
    final = snapshot(watch.service)
    if result in (ServiceState.ACTIVE, ServiceState.ERROR):
        return final
    waited = time.monotonic() - started
    return ServiceSnapshot(
        name=final.name,
        uuid=final.uuid,
        state=final.state,
        message=f"not active after {waited:.1f}s; last check: {final.message}",
        url=final.url,
    )
