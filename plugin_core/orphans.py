"""Processes that carry outlive's marker while no record here accounts for them.

``outlive prune`` stops them; ``outlive list`` and ``outlive status`` report them. Nothing here
imports pydantic: a listing that reads rows without models finds orphans too.
"""

from __future__ import annotations

import json
import uuid as uuid_module
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plugin_core.observation import HostFacts, describe_host, host_facts, host_relation
from plugin_core.paths import services_root

if TYPE_CHECKING:
    from plugin_core.registry.store import ServiceRecord, ServiceRegistry


@dataclass(frozen=True)
class OrphanProcesses:
    """Live processes of one service uuid (its marker) that no record here accounts for."""

    uuid: str
    pids: list[int]
    reason: str


def find_orphans(
    registry: ServiceRegistry,
    *,
    marked: dict[str, list[int]] | None = None,
    records: Sequence[ServiceRecord] | None = None,
) -> list[OrphanProcesses]:
    """Processes visible here that carry the marker of a service launched from this
    ``OUTLIVE_HOME`` (its runtime directory is here) while no record accounts for them: the
    record is gone, or it now belongs to another host. Such a process is out of reach of
    every other command, so ``prune`` stops it and ``status`` reports it.

    Processes are listed before records: a launch saves its record before it spawns anything,
    so a process found first cannot belong to a record written after the listing. A caller
    that has both already (``marked`` from :func:`~plugin_core.processes.all_marked_processes`,
    then ``records``, read in that order) passes them, and nothing is read twice.
    """
    from plugin_core.processes import all_marked_processes

    marked = all_marked_processes() if marked is None else marked
    root = services_root()
    candidates = {
        uuid: pids for uuid, pids in marked.items() if is_uuid(uuid) and (root / uuid).is_dir()
    }
    if not candidates:
        return []
    by_uuid = {
        record.uuid: record for record in (registry.list_records() if records is None else records)
    }
    orphans = []
    for uuid, pids in sorted(candidates.items()):
        record = by_uuid.get(uuid)
        if record is None:
            orphans.append(OrphanProcesses(uuid, sorted(pids), "no record in the registry"))
            continue
        owner = _owner(record)
        if owner is not None and host_relation(owner) == "elsewhere":
            reason = f"its record {record.name!r} now belongs to host {describe_host(owner)}"
            orphans.append(OrphanProcesses(uuid, sorted(pids), reason))
    return orphans


def is_uuid(name: str) -> bool:
    """True if ``name`` is a uuid (the name of a service's runtime directory)."""
    try:
        uuid_module.UUID(name)
    except ValueError:
        return False
    return True


def _owner(record: ServiceRecord) -> HostFacts | None:
    try:
        return host_facts(json.loads(record.status).get("owner_host"))
    except (ValueError, TypeError, AttributeError, RecursionError):
        return None  # a corrupt record is reported by the registry itself
