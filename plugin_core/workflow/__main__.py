"""``python -m plugin_core.workflow``: serve a workflow configured by ``OUTLIVE_WORKFLOW_*``.

For containers and process managers: ``OUTLIVE_WORKFLOW_NAME=summariser
OUTLIVE_WORKFLOW_WORKFLOW=app.flows:summarise OUTLIVE_WORKFLOW_INTERNAL_HOST=0.0.0.0
OUTLIVE_WORKFLOW_PORT=8000 python -m plugin_core.workflow``. SIGTERM drains and exits 0;
a task queue unavailable for longer than ``queue_outage_limit`` exits 1 after one ERROR line.
"""

from __future__ import annotations

import logging
import sys


def main() -> int:
    """Build the service from the environment and serve it until SIGTERM."""
    from plugin_core.workflow.config import WorkflowServiceConfig
    from plugin_core.workflow.errors import QueueUnavailableError
    from plugin_core.workflow.service import WorkflowService

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        WorkflowService(config=WorkflowServiceConfig.from_env()).run()
    except QueueUnavailableError:  # already logged as one clear line by the outage watcher
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
