"""The claim that serialises read-modify-writes of one cluster's Serve config document.

Serve keeps ONE declarative config per cluster and its PUT has no version check, so two
deployers that read, modify and write at once drop each other's apps. The claim is the
registry's (:meth:`ServiceRegistry.claim`, scope ``ray-serve-config``, keyed by the dashboard
address): a PostgreSQL advisory lock when the registry is shared between machines, which is
what makes pipelines on different hosts safe. A service without a registry (never saved)
falls back to a lock on this host.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from plugin_core.locks import name_lock

if TYPE_CHECKING:
    from plugin_core.registry.store import ServiceRegistry

SCOPE = "ray-serve-config"


def config_claim(registry: ServiceRegistry | None, address: str) -> AbstractContextManager[None]:
    """Hold the claim on ``address``'s Serve config for the block."""
    claim = getattr(registry, "claim", None)  # ServiceRegistry.claim lands with cross-host
    if claim is not None:
        held: AbstractContextManager[None] = claim(address, scope=SCOPE)
        return held
    return name_lock(f"{SCOPE}\0{address}")
