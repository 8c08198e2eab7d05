"""Workflow services: a Python callable or workflow served over HTTP (the ``[workflow]`` extra).

The public names are the imports below; they load on first use (``lazy_exports``), so
importing this package (or a record of a workflow service from the registry) never
imports FastAPI or uvicorn; only serving does.
"""

from __future__ import annotations

from plugin_core._lazy import lazy_exports

with lazy_exports(globals()):
    from plugin_core.workflow.app import create_app as create_app
    from plugin_core.workflow.client import (
        AsyncWorkflowClient as AsyncWorkflowClient,
        WorkflowClient as WorkflowClient,
    )
    from plugin_core.workflow.config import (
        WorkflowServiceConfig as WorkflowServiceConfig,
        workflow_env as workflow_env,
    )
    from plugin_core.workflow.control import ReplicaDirectory as ReplicaDirectory
    from plugin_core.workflow.errors import (
        QueueUnavailableError as QueueUnavailableError,
        TaskNotFoundError as TaskNotFoundError,
        WorkflowBusyError as WorkflowBusyError,
        WorkflowLoadError as WorkflowLoadError,
        WorkflowServiceError as WorkflowServiceError,
        WorkflowTaskError as WorkflowTaskError,
    )
    from plugin_core.workflow.executor import (
        TaskContext as TaskContext,
        current_task as current_task,
    )
    from plugin_core.workflow.llama import (
        ActionTypes as ActionTypes,
        MessageQueueConsumer as MessageQueueConsumer,
        QueueMessage as QueueMessage,
        ServiceDefinition as ServiceDefinition,
        TaskDefinition as TaskDefinition,
        WorkflowState as WorkflowState,
    )
    from plugin_core.workflow.models import (
        ReplicaRecord as ReplicaRecord,
        SessionState as SessionState,
        TaskEvent as TaskEvent,
        TaskRecord as TaskRecord,
        TaskState as TaskState,
    )
    from plugin_core.workflow.server import LocalWorkflow as LocalWorkflow
    from plugin_core.workflow.service import WorkflowService as WorkflowService
    from plugin_core.workflow.session import SessionStore as SessionStore
