"""The llama_deploy services document's own example, verbatim apart from the imports.

The document leaves ``workflow`` and ``message_queue`` undefined: here the first is a
real llama-index workflow built from the imported ``Workflow``, the second the URL of
outlive's queue (its message queue is the service's own durable task queue).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import in_ci

try:
    # the document's imports, with outlive's names:
    from workflows import (
        Workflow,  # from llama_index.core.workflow import Workflow
        step,
    )
    from workflows.events import StartEvent, StopEvent

    from plugin_core.workflow import (
        AsyncWorkflowClient,  # outlive's client, to check results
        WorkflowService,  # from llama_deploy import WorkflowService
    )
except ImportError:
    if in_ci():
        raise
    pytest.skip(
        "pip install 'outlive[test-workflow]' (llama-index-workflows)", allow_module_level=True
    )

pytestmark = pytest.mark.integration


class Summarise(Workflow):
    """Summarises a text: its first sentence."""

    @step
    async def summarise(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=str(ev.get("text", "")).split(".")[0])


@pytest.mark.asyncio
async def test_the_documented_example_runs(tmp_path: Path) -> None:
    workflow = Summarise(timeout=30)
    message_queue = f"sqlite:///{tmp_path / 'queue.db'}"

    # -- verbatim from the document ------------------------------------------------------------
    workflow_service = WorkflowService(
        workflow,
        message_queue=message_queue,
        description="workflow_service",
        service_name="my_workflow_service",
    )
    # -------------------------------------------------------------------------------------------

    assert workflow_service.workflow is workflow
    assert workflow_service.service_name == "my_workflow_service"
    assert workflow_service.description == "workflow_service"
    assert (workflow_service.running, workflow_service.step_interval) == (True, 0.1)
    assert workflow_service.max_concurrent_tasks == 8
    assert workflow_service.raise_exceptions is False
    task = await workflow_service.launch_local()
    try:
        async with AsyncWorkflowClient(task.url) as client:
            assert await client.run(text="Outlive runs it. Then more.") == "Outlive runs it"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert task.cancelled()
