"""Workflow services: a Python callable or workflow served over HTTP (the ``[workflow]`` extra).

Names load on first use, so importing this package (or a record of a workflow
service from the registry) never imports FastAPI or uvicorn; only serving does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "ActionTypes": "plugin_core.workflow.llama",
    "AsyncWorkflowClient": "plugin_core.workflow.client",
    "LocalWorkflow": "plugin_core.workflow.server",
    "MessageQueueConsumer": "plugin_core.workflow.llama",
    "QueueMessage": "plugin_core.workflow.llama",
    "QueueUnavailableError": "plugin_core.workflow.errors",
    "ReplicaDirectory": "plugin_core.workflow.control",
    "ReplicaRecord": "plugin_core.workflow.models",
    "ServiceDefinition": "plugin_core.workflow.llama",
    "SessionState": "plugin_core.workflow.models",
    "SessionStore": "plugin_core.workflow.session",
    "TaskContext": "plugin_core.workflow.executor",
    "TaskDefinition": "plugin_core.workflow.llama",
    "TaskEvent": "plugin_core.workflow.models",
    "TaskNotFoundError": "plugin_core.workflow.errors",
    "TaskRecord": "plugin_core.workflow.models",
    "TaskState": "plugin_core.workflow.models",
    "WorkflowBusyError": "plugin_core.workflow.errors",
    "WorkflowClient": "plugin_core.workflow.client",
    "WorkflowLoadError": "plugin_core.workflow.errors",
    "WorkflowService": "plugin_core.workflow.service",
    "WorkflowServiceConfig": "plugin_core.workflow.config",
    "WorkflowServiceError": "plugin_core.workflow.errors",
    "WorkflowState": "plugin_core.workflow.llama",
    "WorkflowTaskError": "plugin_core.workflow.errors",
    "create_app": "plugin_core.workflow.app",
    "current_task": "plugin_core.workflow.executor",
    "workflow_env": "plugin_core.workflow.config",
}

__all__ = [
    "ActionTypes",
    "AsyncWorkflowClient",
    "LocalWorkflow",
    "MessageQueueConsumer",
    "QueueMessage",
    "QueueUnavailableError",
    "ReplicaDirectory",
    "ReplicaRecord",
    "ServiceDefinition",
    "SessionState",
    "SessionStore",
    "TaskContext",
    "TaskDefinition",
    "TaskEvent",
    "TaskNotFoundError",
    "TaskRecord",
    "TaskState",
    "WorkflowBusyError",
    "WorkflowClient",
    "WorkflowLoadError",
    "WorkflowService",
    "WorkflowServiceConfig",
    "WorkflowServiceError",
    "WorkflowState",
    "WorkflowTaskError",
    "create_app",
    "current_task",
    "workflow_env",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'plugin_core.workflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from plugin_core.workflow.app import create_app
    from plugin_core.workflow.client import AsyncWorkflowClient, WorkflowClient
    from plugin_core.workflow.config import WorkflowServiceConfig, workflow_env
    from plugin_core.workflow.control import ReplicaDirectory
    from plugin_core.workflow.errors import (
        QueueUnavailableError,
        TaskNotFoundError,
        WorkflowBusyError,
        WorkflowLoadError,
        WorkflowServiceError,
        WorkflowTaskError,
    )
    from plugin_core.workflow.executor import TaskContext, current_task
    from plugin_core.workflow.llama import (
        ActionTypes,
        MessageQueueConsumer,
        QueueMessage,
        ServiceDefinition,
        TaskDefinition,
        WorkflowState,
    )
    from plugin_core.workflow.models import (
        ReplicaRecord,
        SessionState,
        TaskEvent,
        TaskRecord,
        TaskState,
    )
    from plugin_core.workflow.server import LocalWorkflow
    from plugin_core.workflow.service import WorkflowService
    from plugin_core.workflow.session import SessionStore
