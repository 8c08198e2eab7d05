"""Wire and storage models of the workflow service: tasks, events, sessions, replicas.

These are plain pydantic models (no ``type`` discriminator): they are never
loaded polymorphically, they travel as JSON over HTTP and through the queues,
and results stay JSON values instead of llama_deploy's ``str(result)``.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TaskState(str, Enum):
    """Where a task is. The last four are final: the task will not change again."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True once the task has a result or an error that will not change."""
        return self not in (TaskState.QUEUED, TaskState.RUNNING)

    def __str__(self) -> str:
        return self.value


def new_task_id() -> str:
    """A random, URL-safe task id."""
    return uuid.uuid4().hex


class TaskSubmission(BaseModel):
    """What a client posts: keyword arguments for the workflow and an optional session.

    ``idempotency_key`` (or the ``Idempotency-Key`` header) makes a retry safe: every
    submission with the same key gets the task of the first one, never a second task,
    so a client that lost the answer to a network error can simply submit again.
    ``task_id`` does the same with an id the client picks.
    """

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(default_factory=dict)
    session_id: str | None = None
    task_id: str | None = Field(
        default=None,
        description="Client-chosen id: submitting the same id twice returns the first task.",
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
    )
    idempotency_key: str | None = Field(
        default=None,
        description="Any string up to 256 characters; the same key returns the same task.",
        min_length=1,
        max_length=256,
    )

    @model_validator(mode="after")
    def _one_identity(self) -> TaskSubmission:
        if self.task_id is not None and self.idempotency_key is not None:
            raise ValueError(
                "give either task_id or idempotency_key, not both: the key names the task"
            )
        return self

    def effective_task_id(self) -> str | None:
        """The task id this submission names: ``task_id``, one derived from the key, or None."""
        if self.idempotency_key is not None:
            digest = hashlib.sha256(self.idempotency_key.encode()).hexdigest()[:32]
            return f"key-{digest}"
        return self.task_id


class TaskRecord(BaseModel):
    """A task as stored and as returned by ``GET /tasks/{id}``."""

    task_id: str = Field(default_factory=new_task_id)
    session_id: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    state: TaskState = TaskState.QUEUED
    result: Any = None
    error: str | None = None
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    replica_id: str | None = None
    attempts: int = 0

    @property
    def is_final(self) -> bool:
        """True once :attr:`state` is final."""
        return self.state.is_final


class TaskEvent(BaseModel):
    """One progress event a running task emitted; ``seq`` counts from 1 per task."""

    task_id: str
    seq: int
    data: Any = None
    at: float = Field(default_factory=time.time)


class SessionState(BaseModel):
    """A session's JSON state and its version; every successful write bumps ``version``."""

    session_id: str
    state: dict[str, Any] = Field(default_factory=dict)
    version: int = 0
    updated_at: float | None = None


class SessionUpdate(BaseModel):
    """Body of ``POST /sessions/{id}/state``.

    ``expected_version`` makes the write conditional (409 if someone wrote first);
    ``merge`` updates top-level keys instead of replacing the whole state.
    """

    model_config = ConfigDict(extra="forbid")

    state: dict[str, Any]
    expected_version: int | None = None
    merge: bool = True


class ReplicaRecord(BaseModel):
    """One running process of a workflow service, as the control plane sees it."""

    replica_id: str
    service_name: str
    url: str
    pid: int
    hostname: str
    started_at: float
    heartbeat_at: float
    heartbeat_ttl: float

    def is_alive(self, now: float | None = None) -> bool:
        """True while the last heartbeat is younger than ``heartbeat_ttl``."""
        return ((now or time.time()) - self.heartbeat_at) <= self.heartbeat_ttl


class ServiceCounts(BaseModel):
    """Load figures served by ``GET /`` and used for back-pressure."""

    running: int = 0
    queued: int | None = 0  # None while the task queue is unavailable
    succeeded: int = 0
    failed: int = 0
    timed_out: int = 0
    rejected: int = 0
