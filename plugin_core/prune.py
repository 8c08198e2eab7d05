"""Clean up what is no longer running: records of stopped or failed services, orphan files,
and processes that carry outlive's marker but that no record accounts for."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from plugin_core.backends.runtime_dir import definition_type
from plugin_core.errors import ConfigError
from plugin_core.lifecycle import delete_service, find_services
from plugin_core.model.state import ServiceState
from plugin_core.model.typed import resolve_type
from plugin_core.orphans import OrphanProcesses, find_orphans, is_uuid
from plugin_core.paths import services_root
from plugin_core.processes import marked_processes, stop_tree
from plugin_core.registry.store import ServiceRegistry
from plugin_core.service import BaseService

__all__ = ["ORPHAN_GRACE", "OrphanProcesses", "PruneReport", "find_orphans", "prune_services"]

ORPHAN_GRACE = 5.0  # seconds between SIGTERM and SIGKILL for an unrecorded process


@dataclass
class PruneReport:
    """What :func:`prune_services` removed, and what it kept on purpose (with the reason)."""

    deleted: list[str] = field(default_factory=list)
    swept_dirs: list[str] = field(default_factory=list)
    kept_dirs: list[tuple[str, str]] = field(default_factory=list)
    orphans: list[OrphanProcesses] = field(default_factory=list)


def prune_services(
    *,
    registry: ServiceRegistry | None = None,
    states: tuple[ServiceState, ...] = (ServiceState.INACTIVE, ServiceState.ERROR),
    dry_run: bool = False,
) -> PruneReport:
    """Delete records whose observed state is in ``states``; stop processes that carry outlive's
    marker but no record accounts for (:func:`find_orphans`), and those that a runtime
    directory no record names still records as its own (the backend's
    ``leftover_processes``); then sweep runtime directories that belong to no record and hold
    no live process."""
    registry = registry or ServiceRegistry()
    report = PruneReport(orphans=find_orphans(registry))
    if not dry_run:
        for orphan in report.orphans:
            stop_tree([], grace=ORPHAN_GRACE, marker=orphan.uuid)
    for service in find_services(registry=registry):
        if service.status.state in states:
            report.deleted.append(service.config.service_name)
            if not dry_run:
                delete_service(service, registry=registry, force=True)
    known = {record.uuid for record in registry.list_records()}
    for directory in sorted(services_root().iterdir()):
        if not is_uuid(directory.name) or directory.name in known:
            continue
        _stop_recorded_leftovers(directory, registry, report, dry_run)
        live = _live_process(directory)
        if live:
            report.kept_dirs.append((str(directory), live))
            continue
        report.swept_dirs.append(str(directory))
        if not dry_run:
            shutil.rmtree(directory, ignore_errors=True)
    return report


def _stop_recorded_leftovers(
    directory: Path, registry: ServiceRegistry, report: PruneReport, dry_run: bool
) -> None:
    """Stop (and report as orphans) the processes an unrecorded runtime directory names. The
    registry is asked once more first: a launch saves its record before it creates its
    directory, so a directory that appeared after the records were listed has one now."""
    backend = _backend_of(directory)
    leftovers = backend.leftover_processes(directory) if backend is not None else []
    if not leftovers or registry.stamp(directory.name) is not None:
        return
    pids = sorted({identity.pid for identity in leftovers})
    listed = next((o for o in report.orphans if o.uuid == directory.name), None)
    if listed is None:
        report.orphans.append(
            OrphanProcesses(directory.name, pids, "named by its runtime directory; no record")
        )
    else:
        listed.pids[:] = sorted({*listed.pids, *pids})
    if not dry_run:
        stop_tree(leftovers, grace=ORPHAN_GRACE, marker=directory.name)


def _backend_of(directory: Path) -> type[BaseService] | None:
    """The class named in the directory's definition file, if it loads."""
    kind = definition_type(directory)
    if kind is None:
        return None
    try:
        backend = resolve_type(kind)
    except ConfigError:
        return None
    return backend if isinstance(backend, type) and issubclass(backend, BaseService) else None


def _live_process(directory: Path) -> str:
    """What still runs from an unrecorded runtime directory, as its backend tells (the class
    named in the directory's definition file); for a directory whose class cannot be loaded,
    any live process carrying its uuid's marker."""
    backend = _backend_of(directory)
    if backend is not None:
        return backend.leftover_activity(directory)
    pids = marked_processes(directory.name)
    if pids:
        return f"process {pids[0].pid} still runs; stop it before pruning"
    return ""
