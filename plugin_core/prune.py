"""Clean up what is no longer running: records of stopped or failed services, and orphan files."""

from __future__ import annotations

import json
import shutil
import uuid as uuid_module
from dataclasses import dataclass, field
from pathlib import Path

from plugin_core.lifecycle import delete_service, find_services
from plugin_core.model.state import ServiceState
from plugin_core.paths import services_root
from plugin_core.processes import ProcessIdentity
from plugin_core.registry.store import ServiceRegistry


@dataclass
class PruneReport:
    """What :func:`prune_services` removed, and what it kept on purpose (with the reason)."""

    deleted: list[str] = field(default_factory=list)
    swept_dirs: list[str] = field(default_factory=list)
    kept_dirs: list[tuple[str, str]] = field(default_factory=list)


def prune_services(
    *,
    registry: ServiceRegistry | None = None,
    states: tuple[ServiceState, ...] = (ServiceState.INACTIVE, ServiceState.ERROR),
    dry_run: bool = False,
) -> PruneReport:
    """Delete records whose observed state is in ``states``, and runtime directories that belong
    to no record and hold no live process (a live one is the only handle to stop it: kept)."""
    registry = registry or ServiceRegistry()
    report = PruneReport()
    for service in find_services(registry=registry):
        if service.status.state in states:
            report.deleted.append(service.config.service_name)
            if not dry_run:
                delete_service(service, registry=registry, force=True)
    known = {record.uuid for record in registry.list_records()}
    for directory in sorted(services_root().iterdir()):
        if not _is_uuid(directory.name) or directory.name in known:
            continue
        live = _live_process(directory)
        if live:
            report.kept_dirs.append((str(directory), live))
            continue
        report.swept_dirs.append(str(directory))
        if not dry_run:
            shutil.rmtree(directory, ignore_errors=True)
    return report


def _is_uuid(name: str) -> bool:
    try:
        uuid_module.UUID(name)
    except ValueError:
        return False
    return True


def _live_process(directory: Path) -> str:
    try:
        record = json.loads((directory / "state.json").read_text())
    except (OSError, ValueError):
        return ""
    for role in ("supervisor", "child"):
        pid, token = record.get(f"{role}_pid"), record.get(f"{role}_token")
        if isinstance(pid, int) and isinstance(token, str) and ProcessIdentity(pid, token).is_alive():
            return f"{role} process {pid} still runs; stop it before pruning"
    return ""
