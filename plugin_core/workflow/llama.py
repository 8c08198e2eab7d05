"""llama_deploy's wire types, so code and clients written for its services keep working.

``QueueMessage``, ``ActionTypes``, ``TaskDefinition``, ``ServiceDefinition`` and
``WorkflowState`` have llama_deploy 0.5's fields. A ``QueueMessage`` is not
carried by a broker here: :func:`submission_of` turns a NEW_TASK message into a
task of the service's own durable queue, and ``POST /process_message`` accepts
either body. Workflow contexts kept per session (``get_workflow_state`` /
``set_workflow_state``) are stored as JSON through llama-index's
``JsonSerializer``, never pickled, so reading a session's state cannot run code.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from plugin_core.errors import ConfigError
from plugin_core.workflow.models import TaskSubmission

if TYPE_CHECKING:
    from plugin_core.workflow.session import SessionStore

StartConsumingCallable = Callable[[], Awaitable[None]]
CONTROL_PLANE_MESSAGE_TYPE = "control_plane"


def generate_id() -> str:
    """A random id, as llama_deploy makes them."""
    return str(uuid.uuid4())


class ActionTypes(str, Enum):
    """What a :class:`QueueMessage` asks for; a workflow service handles NEW_TASK and SEND_EVENT."""

    NEW_TASK = "new_task"
    COMPLETED_TASK = "completed_task"
    REQUEST_FOR_HELP = "request_for_help"
    NEW_TOOL_CALL = "new_tool_call"
    COMPLETED_TOOL_CALL = "completed_tool_call"
    TASK_STREAM = "task_stream"
    SEND_EVENT = "send_event"


class QueueMessageStats(BaseModel):
    """Timestamps llama_deploy kept on a message (carried, not used)."""

    publish_time: str | None = None
    process_start_time: str | None = None
    process_end_time: str | None = None

    @staticmethod
    def timestamp_str(format: str = "%Y-%m-%d %H:%M:%S") -> str:
        return datetime.now().strftime(format)


class QueueMessage(BaseModel):
    """llama_deploy's message envelope: ``type`` names the service, ``data`` the payload."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id_: str = Field(default_factory=generate_id)
    publisher_id: str = "default"
    data: dict[str, Any] = Field(default_factory=dict)
    action: ActionTypes | None = None
    stats: QueueMessageStats = Field(default_factory=QueueMessageStats)
    type: str = "default"


class TaskDefinition(BaseModel):
    """A task as llama_deploy sends it: ``input`` is the JSON text of the run's kwargs."""

    input: str
    task_id: str = Field(default_factory=generate_id)
    session_id: str | None = None
    agent_id: str | None = None


class ServiceDefinition(BaseModel):
    """What a service tells the control plane about itself."""

    service_name: str
    description: str
    prompt: list[Any] = Field(default_factory=list)
    host: str | None = None
    port: int | None = None


class WorkflowState(BaseModel):
    """One call of a workflow: its task, session and kwargs, and the saved context (JSON).

    ``hash`` is kept for field compatibility and never checked: llama_deploy's
    ``hash()`` of a default secret gave no integrity, and nothing here is unpickled.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    hash: int | None = None
    state: dict[str, Any] = Field(default_factory=dict)
    run_kwargs: dict[str, Any] = Field(default_factory=dict)
    session_id: str | None = None
    task_id: str = Field(default_factory=generate_id)


class MessageQueueConsumer(BaseModel):
    """What ``as_consumer()`` returns: hands messages of ``message_type`` to the service,
    in-process (``handler``) or over HTTP (``url``, the service's ``/process_message``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id_: str = Field(default_factory=generate_id)
    message_type: str = "default"
    url: str | None = None
    handler: Callable[[QueueMessage], Awaitable[Any]] | None = Field(default=None, exclude=True)

    async def process_message(self, message: QueueMessage, **_kwargs: Any) -> Any:
        """Deliver one message (of this consumer's type) to the service."""
        if message.type != self.message_type:
            raise ValueError(f"Consumer cannot process messages of type '{message.type}'.")
        if self.handler is not None:
            return await self.handler(message)
        import httpx

        assert self.url is not None
        async with httpx.AsyncClient() as http:
            answer = await http.post(self.url, json=message.model_dump(mode="json"))
            answer.raise_for_status()
            return answer.json()


def is_queue_message(body: dict[str, Any]) -> bool:
    """True for a llama_deploy ``QueueMessage`` body, False for outlive's task submission."""
    return "action" in body or "data" in body or "id_" in body


def submission_of(message: QueueMessage) -> TaskSubmission:
    """The task a NEW_TASK message asks for (its ``task_id`` makes a resend idempotent)."""
    if message.action != ActionTypes.NEW_TASK:
        raise ValueError(f"Unhandled action: {message.action}")
    task = TaskDefinition(**message.data)
    try:
        run_kwargs = json.loads(task.input) if task.input.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"TaskDefinition.input of task {task.task_id!r} must be the JSON text of the "
            f'workflow\'s keyword arguments, e.g. \'{{"topic": "x"}}\': {exc}'
        ) from None
    if not isinstance(run_kwargs, dict):
        raise ConfigError(
            f"TaskDefinition.input of task {task.task_id!r} must be a JSON object of keyword "
            f"arguments, got {type(run_kwargs).__name__}"
        )
    return TaskSubmission(input=run_kwargs, session_id=task.session_id, task_id=task.task_id)


def event_of(message: QueueMessage) -> tuple[str, Any]:
    """The task id and the llama-index event a SEND_EVENT message carries."""
    from workflows.context import JsonSerializer

    task = TaskDefinition(**message.data)
    return task.task_id, JsonSerializer().deserialize(task.input)


class WorkflowContexts:
    """Saves and loads a llama-index workflow's ``Context`` per session, as JSON in the
    session state under the session id (llama_deploy's key), through the session store."""

    def __init__(self, sessions: SessionStore, workflow: Any) -> None:
        self.sessions = sessions
        self.workflow = workflow

    def load(self, session_id: str | None) -> Any | None:
        """The session's saved context, rebuilt for ``workflow``; None if there is none."""
        if session_id is None:
            return None
        saved = self.sessions.get(session_id).state.get(session_id)
        if saved is None:
            return None
        state = WorkflowState.model_validate_json(saved) if isinstance(saved, str) else None
        if state is None or not state.state:
            return None
        from workflows import Context
        from workflows.context import JsonSerializer

        return Context.from_dict(self.workflow, state.state, serializer=JsonSerializer())

    def save(self, ctx: Any, current: WorkflowState) -> None:
        """Store ``ctx`` (JSON) as the session's context; the session must be named."""
        from workflows.context import JsonSerializer

        if current.session_id is None:
            raise ValueError("Session ID is None! Cannot set workflow state.")
        saved = current.model_copy(update={"state": ctx.to_dict(serializer=JsonSerializer())})
        self.sessions.modify(current.session_id, {current.session_id: saved.model_dump_json()})


def is_llama_workflow(obj: object) -> bool:
    """True for a llama-index ``Workflow`` (``llama-index-workflows``), whose runs take ``ctx``."""
    try:
        from workflows import Workflow
    except ImportError:
        return False
    return isinstance(obj, Workflow)
