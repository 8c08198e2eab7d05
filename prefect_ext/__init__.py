"""Prefect 3 adapter for outlive: blocks and tasks for services that outlive the flow run.

The blocks are defined on import: ``prefect block register -m prefect_ext``
registers the Block classes in this namespace, and a Prefect server or worker
that loads the ``prefect.collections`` entry point must see them defined. The
tasks, the imports in the ``lazy_exports`` block, load on first use (PEP 562),
because every Prefect server and worker imports this collection and only flows
need the tasks. Every lifecycle decision is made by ``plugin_core``; this
package only maps Prefect's ways onto it.
"""

from __future__ import annotations

# Import the Prefect package itself before our blocks pull in `prefect.blocks.core`: measured
# here, a fresh `import prefect_ext` whose first Prefect import happened inside the blocks
# module took ~100 ms more wall time for the same work (bench/bench_prefect_import.py).
import prefect  # noqa: F401

from plugin_core import lazy_exports
from prefect_ext import blocks
from prefect_ext.blocks import *  # noqa: F403 - defined on import (see above)

__all__ = [*blocks.__all__]

with lazy_exports(globals()):
    # each task has an async twin named with an "a" prefix
    from prefect_ext.tasks import (
        adelete_service as adelete_service,
        afind_services as afind_services,
        aget_service_logs as aget_service_logs,
        aget_service_status as aget_service_status,
        aprune_services as aprune_services,
        astart_service as astart_service,
        astop_service as astop_service,
        aupdate_service as aupdate_service,
        await_for_service as await_for_service,
        delete_service as delete_service,
        find_services as find_services,
        get_service_logs as get_service_logs,
        get_service_status as get_service_status,
        prune_services as prune_services,
        start_service as start_service,
        stop_service as stop_service,
        update_service as update_service,
        wait_for_service as wait_for_service,
    )
