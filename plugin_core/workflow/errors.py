"""Errors of the workflow service, as children of the core tree in :mod:`plugin_core.errors`.

::

    OutliveError
    ├── ConfigError
    │   └── WorkflowLoadError        the ``module:attr`` target cannot be imported or called
    ├── RegistryError
    │   └── ConcurrentUpdateError    (core) a session write lost the race; reload and retry
    └── BackendError
        ├── WorkflowServiceError     a workflow service answered with an error
        │   ├── WorkflowBusyError    429/503: intake full, draining or queue down; ``retry_after``
        │   ├── TaskNotFoundError    no task with that id
        │   └── WorkflowTaskError    the task ended FAILED, TIMED_OUT or CANCELLED
        └── QueueUnavailableError    the task queue (Redis, the SQLite file) does not answer now
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugin_core.errors import BackendError, ConfigError

if TYPE_CHECKING:
    from plugin_core.workflow.models import TaskRecord


class WorkflowLoadError(ConfigError):
    """The workflow import path does not name something we can call."""

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        super().__init__(
            f"Cannot load workflow {target!r}: {reason}. Use 'package.module:attribute' naming a "
            "function (sync or async), an object with an async run(**kwargs), or a class of one."
        )


class WorkflowServiceError(BackendError):
    """A workflow service answered with an error status."""

    def __init__(self, message: str, *, status_code: int = 0, url: str = "") -> None:
        self.status_code = status_code
        self.url = url
        super().__init__(message)


class WorkflowBusyError(WorkflowServiceError):
    """The service refused a task because its intake is full (429) or it is draining (503)."""

    def __init__(self, url: str, status_code: int, retry_after: float, detail: str) -> None:
        self.retry_after = retry_after
        self.detail = detail
        fix = ", or raise max_queued_tasks / add replicas." if status_code == 429 else "."
        super().__init__(
            f"Workflow service at {url} is busy ({status_code}: {detail}); retry after "
            f"{retry_after:g}s{fix}",
            status_code=status_code,
            url=url,
        )


class TaskNotFoundError(WorkflowServiceError):
    """No task with that id is known to the service."""

    def __init__(self, task_id: str, url: str = "") -> None:
        self.task_id = task_id
        super().__init__(
            f"No task {task_id!r} at {url or 'the workflow service'}.", status_code=404
        )


class WorkflowTaskError(WorkflowServiceError):
    """A task ended without a result: it failed, timed out or was cancelled."""

    def __init__(self, record: TaskRecord) -> None:
        self.record = record
        self.task_id = record.task_id
        self.state = record.state
        super().__init__(f"Task {record.task_id} ended {record.state.value}: {record.error}")


class QueueUnavailableError(BackendError):
    """The task queue cannot be reached or written right now (Redis down, SQLite file locked
    or its disk full). The runtime treats it as an outage to ride out, not as a crash."""

    def __init__(self, queue: str, reason: str) -> None:
        self.queue = queue
        self.reason = reason
        super().__init__(
            f"Task queue {queue} is unavailable ({reason}); the service pauses intake and "
            "resumes by itself when it answers again."
        )
