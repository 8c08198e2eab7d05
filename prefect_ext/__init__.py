"""Prefect 3 adapter for outlive: blocks and tasks for services that outlive the flow run.

The blocks are defined on import: ``prefect block register -m prefect_ext``
registers the Block classes in this namespace, and a Prefect server or worker
that loads the ``prefect.collections`` entry point must see them defined. The
tasks load on first use (PEP 562), because every Prefect server and worker
imports this collection and only flows need the tasks. Every lifecycle
decision is made by ``plugin_core``; this package only maps Prefect's ways onto it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Import the Prefect package itself before our blocks pull in `prefect.blocks.core`: measured
# here, a fresh `import prefect_ext` whose first Prefect import happened inside the blocks
# module took ~100 ms more wall time for the same work (bench/bench_prefect_import.py).
import prefect  # noqa: F401

from prefect_ext.blocks import (
    CommandServiceBlock,
    ContainerServiceBlock,
    DockerHostBlock,
    DockerRegistryCredentialsBlock,
    LocalDaemonServiceBlock,
    ServiceBlock,
    ServiceRegistryBlock,
)

__all__ = [
    "CommandServiceBlock",
    "ContainerServiceBlock",
    "DockerHostBlock",
    "DockerRegistryCredentialsBlock",
    "LocalDaemonServiceBlock",
    "ServiceBlock",
    "ServiceRegistryBlock",
    # tasks, each with an async twin named with an "a" prefix
    "adelete_service",
    "afind_services",
    "aget_service_logs",
    "aget_service_status",
    "aprune_services",
    "astart_service",
    "astop_service",
    "aupdate_service",
    "await_for_service",
    "delete_service",
    "find_services",
    "get_service_logs",
    "get_service_status",
    "prune_services",
    "start_service",
    "stop_service",
    "update_service",
    "wait_for_service",
]
_TASKS = frozenset(name for name in __all__ if name[0].islower())


def __getattr__(name: str) -> Any:
    if name not in _TASKS:
        raise AttributeError(f"module 'prefect_ext' has no attribute {name!r}")
    value = getattr(importlib.import_module("prefect_ext.tasks"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from prefect_ext.tasks import (
        adelete_service,
        afind_services,
        aget_service_logs,
        aget_service_status,
        aprune_services,
        astart_service,
        astop_service,
        aupdate_service,
        await_for_service,
        delete_service,
        find_services,
        get_service_logs,
        get_service_status,
        prune_services,
        start_service,
        stop_service,
        update_service,
        wait_for_service,
    )
