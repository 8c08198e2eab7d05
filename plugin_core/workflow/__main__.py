"""``python -m plugin_core.workflow``: serve a workflow configured by ``OUTLIVE_WORKFLOW_*``.

For containers and process managers: ``OUTLIVE_WORKFLOW_NAME=summariser
OUTLIVE_WORKFLOW_WORKFLOW=app.flows:summarise OUTLIVE_WORKFLOW_INTERNAL_HOST=0.0.0.0
OUTLIVE_WORKFLOW_PORT=8000 python -m plugin_core.workflow``. SIGTERM drains and exits 0.
"""

from __future__ import annotations

import logging
import sys


def main() -> int:
    """Build the service from the environment and serve it until SIGTERM."""
    from plugin_core.workflow.config import WorkflowServiceConfig
    from plugin_core.workflow.service import WorkflowService

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    WorkflowService(config=WorkflowServiceConfig.from_env()).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
