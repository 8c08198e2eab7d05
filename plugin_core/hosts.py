"""Which host a service runs on, and whether this host can see (and signal) its processes.

A record shared through PostgreSQL is read by several machines, but a process id means
something only where it was issued: on the same boot of the same machine, inside the same
PID namespace (a container or an ``unshare --pid`` has its own). So every launch records
its owner as :class:`HostIdentity` (host name, machine id, boot id, PID namespace) and
every caller compares it with :func:`this_host` before it observes or signals a process:

* ``here``: same boot and PID namespace; pids are ours to check and signal;
* ``ended``: the same machine (host name and machine id) on an earlier boot; every process
  of that boot is gone, so the local view (nothing runs) is the truth;
* ``elsewhere``: another machine or namespace; its processes are invisible here, so only
  the record's state (as its owner last observed it) can be reported, and a stop must run there.

Services whose class says ``HOST_BOUND = False`` are reached through something hosts share
and say themselves whether this host reaches it (:meth:`BaseService.reach_problem`): a
container, from any host whose ``DOCKER_HOST`` reaches the engine it was created on.
"""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each string again for every subclass. See plugin_core.model.deferred.

import functools
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from plugin_core.errors import ServiceOnOtherHostError
from plugin_core.model.deferred import DeferredSignature

# The judgement itself (plugin_core.observation) is imported on first use: status models hold a
# HostIdentity, so this module loads with every service class.
if TYPE_CHECKING:
    from plugin_core.observation import Relation as Relation
    from plugin_core.service import BaseService


class HostIdentity(BaseModel):
    """Where a process was launched: enough to tell whether its pid is visible from here."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    __signature__ = DeferredSignature()

    hostname: str
    machine_id: str = ""
    boot_id: str = ""
    pid_namespace: str = ""

    def describe(self) -> str:
        """``host-a (boot 60e7b227, pid namespace 4026531836)``: for messages."""
        from plugin_core.observation import describe_host

        return describe_host(self)


@functools.lru_cache(maxsize=1)
def this_host() -> HostIdentity:
    """The identity of the host (boot, PID namespace) this process runs on."""
    from plugin_core.observation import this_host_facts

    return HostIdentity(**this_host_facts()._asdict())


def relation(owner: HostIdentity | None) -> "Relation":
    """How a process launched on ``owner`` relates to this host (None: recorded before owners
    were kept, treated as local, which is what every earlier version assumed)."""
    from plugin_core.observation import host_relation

    return host_relation(owner)


def reach_problem(service: "BaseService") -> str:
    """Why this host cannot observe or signal the service's processes; empty when it can.

    A host-bound service (a local process) is reachable from its owner host only (and after
    that host's reboot, when nothing of it runs any more); any other service says itself
    (:meth:`BaseService.reach_problem`: a container is reachable wherever its engine is).
    """
    if not service.HOST_BOUND:
        return service.reach_problem()
    owner = service.status.owner_host
    if owner is None or relation(owner) != "elsewhere":
        return ""
    return (
        f"its processes run on host {owner.describe()}, and a process can only be signalled "
        "from its own host"
    )


def observable_here(service: "BaseService") -> bool:
    """True if this host can observe and signal the service's processes (or it has none)."""
    return not reach_problem(service)


def require_here(service: "BaseService", action: str) -> None:
    """Refuse ``action`` (stop, replace, delete) on a service this host cannot reach."""
    problem = reach_problem(service)
    if not problem:
        return
    owner = service.status.owner_host
    raise ServiceOnOtherHostError(
        service.config.service_name,
        action,
        reason=problem,
        owner=owner.describe() if owner is not None else "unknown",
        here=this_host().describe(),
    )


def observation_note(service: "BaseService") -> str:
    """What this host can say about the service's state: empty when it observes it itself."""
    problem = reach_problem(service)
    if not problem:
        return ""
    owner = service.status.owner_host
    by = f"its host {owner.hostname}" if owner is not None else "its owner"
    return f"state as last recorded by {by}; not visible from {this_host().hostname}: {problem}"
