"""Writing service records: a compare-and-swap on the version read, and what a loser does.

Two kinds of writers share a record. Intent (a launch, a stop, an update) is decided and
written under the name's claim (:meth:`ServiceRegistry.claim`), so it never races another
intent; observations (a status refresh, a waiter's last look) are written without it, by
anyone who looked. Every write carries the version its writer read; a loser re-reads and
decides again (:func:`save_record`), so no write is lost and none is blindly overwritten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugin_core.errors import ConcurrentUpdateError
from plugin_core.hosts import observable_here

if TYPE_CHECKING:
    from plugin_core.registry.store import ServiceRegistry
    from plugin_core.service import BaseService

WRITE_ATTEMPTS = 8  # re-reads after lost compare-and-swaps before a write gives up


def save_record(service: BaseService, registry: ServiceRegistry, *, observation: bool = False) -> bool:
    """Write ``service`` as a compare-and-swap on the version it was read at; True if written.

    When another writer got there first, re-read and decide again. Intent (a launch, a stop,
    an update) is decided under the name's claim, so only status observers can have written
    meanwhile: an intent for the same launch is written again at the fresh version, and one
    for a launch that is no longer current raises :class:`ConcurrentUpdateError` with the
    current service. An observation is written again only while the record still describes
    what was observed (same launch, admin state and config), else the newer record wins and
    it is dropped; a host that cannot see the service's processes never writes one.
    """
    if observation and (service.registry_version is None or not observable_here(service)):
        return False
    for _ in range(WRITE_ATTEMPTS):
        try:
            registry.save(service)
        except ConcurrentUpdateError as exc:
            fresh = registry.get_or_none(str(service.uuid))
            if fresh is None or not _still_applies(service, fresh, observation):
                if observation:
                    return False
                exc.current = fresh
                raise
            service.registry_version = fresh.registry_version
            continue
        service.attach_registry(registry)
        return True
    if observation:
        return False
    raise ConcurrentUpdateError(
        f"Service {service.config.service_name!r}: {WRITE_ATTEMPTS} writes in a row lost to "
        "other writers; load it again and retry.",
        service_name=service.config.service_name,
    )


def _still_applies(service: BaseService, fresh: BaseService, observation: bool) -> bool:
    if fresh.status.launch_id != service.status.launch_id:
        return False
    if not observation:
        return True
    return (
        fresh.admin_state == service.admin_state
        and fresh.type == service.type
        and fresh.config.to_dict() == service.config.to_dict()
    )


def reread(service: BaseService, registry: ServiceRegistry) -> BaseService | None:
    """The registered copy read now, under the caller's claim (None: deleted meanwhile); a
    never-saved object is its own record (its first save inserts it)."""
    if service.registry_version is None:
        return service
    return registry.get_or_none(str(service.uuid))


def require_unchanged(read: BaseService, registry: ServiceRegistry) -> None:
    """Raise if the record moved on from the version ``read`` was read at."""
    if read.registry_version is None:
        return
    fresh = registry.get_or_none(str(read.uuid))
    if fresh is not None and fresh.registry_version == read.registry_version:
        return
    name = read.config.service_name
    now = (
        f"it is now at version {fresh.registry_version} (state: {fresh.status.state.value})"
        if fresh is not None
        else "it has been deleted"
    )
    raise ConcurrentUpdateError(
        f"Service {name!r} changed in the registry since it was read at version "
        f"{read.registry_version}: {now}; load it again and apply the update to that.",
        service_name=name,
        read_version=read.registry_version,
        current_version=fresh.registry_version if fresh is not None else None,
        current_state=fresh.status.state.value if fresh is not None else None,
        current=fresh,
    )
