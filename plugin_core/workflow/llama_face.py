"""llama_deploy's ``WorkflowService`` methods, over outlive's runtime, queue and registry.

Mixed into :class:`~plugin_core.workflow.service.WorkflowService`, so code written
for llama_deploy 0.5 (``launch_local``, ``launch_server``, ``process_message``,
``processing_loop``, session state, control-plane registration...) runs with only
its imports changed. The differences are deliberate and listed in the README
("Coming from llama_deploy"): the message queue is the service's own durable
queue (no broker hop), the control plane is the outlive registry (a SQLAlchemy
URL, not an HTTP server), results stay JSON, contexts are never pickled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from plugin_core.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from plugin_core.workflow.config import WorkflowServiceConfig
    from plugin_core.workflow.llama import (
        MessageQueueConsumer,
        QueueMessage,
        ServiceDefinition,
        StartConsumingCallable,
        WorkflowState,
    )
    from plugin_core.workflow.models import TaskRecord
    from plugin_core.workflow.runtime import WorkflowRuntime

log = logging.getLogger(__name__)


class LlamaDeployFace:
    """The llama_deploy 0.5 ``BaseService``/``WorkflowService`` members (see the module doc)."""

    if TYPE_CHECKING:
        config: WorkflowServiceConfig

        @property
        def base_url(self) -> str | None: ...

        @property
        def workflow(self) -> Any: ...

        def _runtime_for(self) -> WorkflowRuntime: ...

        def _registry_url(self) -> str | None: ...

        async def launch_local(self) -> Any: ...

    # -- attributes -----------------------------------------------------------------------------

    @property
    def service_name(self) -> str:
        """The unique name (the registry's, and the message type of its queue messages)."""
        return self.config.service_name

    @property
    def description(self) -> str:
        """The service's description."""
        return self.config.description

    @property
    def running(self) -> bool:
        """Whether tasks are run; False keeps accepting them but runs none until set back."""
        return self.config.running

    @running.setter
    def running(self, value: bool) -> None:
        self.config.running = value
        runtime = getattr(self, "_runtime", None)
        if runtime is not None:
            runtime.running = value

    @property
    def step_interval(self) -> float:
        """How often a waiter re-reads a result another process may have written."""
        return self.config.step_interval

    @property
    def max_concurrent_tasks(self) -> int:
        """How many tasks run at once (the number of workers)."""
        return self.config.max_concurrent_tasks

    @property
    def host(self) -> str:
        """The advertised host."""
        return self.config.host

    @property
    def port(self) -> int | None:
        """The advertised port (the bound one once serving, when none was set)."""
        if self.config.port is not None:
            return self.config.port
        runtime = getattr(self, "_runtime", None)
        if runtime is not None and runtime.url.rsplit(":", 1)[-1].isdigit():
            return int(runtime.url.rsplit(":", 1)[-1])
        return None

    @property
    def internal_host(self) -> str | None:
        """The bind host when it differs from ``host`` (a container binding 0.0.0.0)."""
        return self.config.internal_host

    @property
    def internal_port(self) -> int | None:
        """The bind port when it differs from ``port``."""
        return self.config.internal_port

    @property
    def raise_exceptions(self) -> bool:
        """Whether a failing task stops the service (after its FAILED record is stored)."""
        return self.config.raise_exceptions

    @property
    def message_queue(self) -> str:
        """The task queue's URL (``sqlite``, ``sqlite:///path``, ``redis://...``, ``memory``)."""
        return self.config.queue_url

    @property
    def service_definition(self) -> ServiceDefinition:
        """What the control plane knows of this service."""
        from plugin_core.workflow.llama import ServiceDefinition

        return ServiceDefinition(
            service_name=self.service_name,
            description=self.description,
            host=self.host,
            port=self.port,
        )

    # -- messages and the worker loop -----------------------------------------------------------

    def as_consumer(self, remote: bool = False) -> MessageQueueConsumer:
        """A consumer handing messages to this service: in-process, or (``remote``) over HTTP
        to its ``/process_message``."""
        from plugin_core.workflow.llama import MessageQueueConsumer

        if not remote:
            return MessageQueueConsumer(
                message_type=self.service_name, handler=self.process_message
            )
        base = self.base_url or f"http://{self.host}:{self.port}"
        return MessageQueueConsumer(message_type=self.service_name, url=f"{base}/process_message")

    async def process_message(self, message: QueueMessage) -> TaskRecord | None:
        """Accept a message: NEW_TASK queues the task durably (returned, where llama_deploy
        returned None), SEND_EVENT passes an event to a running task of this process."""
        from plugin_core.workflow.llama import ActionTypes, QueueMessage, event_of, submission_of

        message = QueueMessage.model_validate(message)
        runtime = self._runtime_for()
        if message.action == ActionTypes.SEND_EVENT:
            task_id, event = event_of(message)
            await runtime.send_event(task_id, event)
            return None
        return await runtime.submit(submission_of(message), early=True)

    async def manage_tasks(self) -> None:
        """Run the workers (``max_concurrent_tasks`` of them, claiming from the queue) until
        cancelled; raises what stopped the replica (``raise_exceptions``, a long outage)."""
        runtime = self._runtime_for()
        await runtime.start()
        try:
            await runtime.ended.wait()
        finally:
            await runtime.stop()
        if runtime.fatal is not None:
            raise runtime.fatal

    async def processing_loop(self) -> None:
        """The worker loop without HTTP; returns quietly when cancelled, as llama_deploy's."""
        log.info("%s: processing initiated", self.service_name)
        with contextlib.suppress(asyncio.CancelledError):
            await self.manage_tasks()

    async def process_call(self, current_call: WorkflowState) -> None:
        """Run one call now, in this coroutine, and store its final record in the queue
        (errors become a FAILED record; ``raise_exceptions`` re-raises them)."""
        from plugin_core.workflow.models import TaskRecord

        runtime = self._runtime_for()
        record = await runtime.adopt(
            TaskRecord(
                task_id=current_call.task_id,
                session_id=current_call.session_id,
                input=current_call.run_kwargs,
            )
        )
        if not record.is_final:
            await runtime.executor.run(record, runtime.queue.finish)

    async def register_to_message_queue(self) -> StartConsumingCallable:
        """The coroutine function that consumes this service's queue: it waits on the serving
        replica if one runs in this process, else runs :meth:`processing_loop`."""
        runtime = self._runtime_for()

        async def start_consuming() -> None:
            if runtime._started:
                await runtime.ended.wait()
            else:
                await self.processing_loop()

        return start_consuming

    # -- server ---------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncGenerator[None, None]:
        """Start the workers with ``app`` and drain them when it stops (also for your own app)."""
        runtime = getattr(app.state, "runtime", None) or self._runtime_for()
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    async def home(self) -> dict[str, str]:
        """llama_deploy's ``GET /`` document (outlive's ``GET /`` adds these keys to its own)."""
        runtime = getattr(self, "_runtime", None)
        outstanding = runtime.executor.counts.running if runtime is not None else 0
        return {
            "service_name": self.service_name,
            "description": self.description,
            "running": str(self.running),
            "step_interval": str(self.step_interval),
            "num_outstanding_calls": str(outstanding),
            "type": "workflow_service",
        }

    # -- control plane (the registry) -----------------------------------------------------------

    async def register_to_control_plane(self, control_plane_url: str) -> None:
        """Use the registry at ``control_plane_url`` (a SQLAlchemy URL) as the control plane:
        sessions live there, and this process's replica is listed there while it serves."""
        if control_plane_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"control_plane_url {control_plane_url!r} is an HTTP address; outlive's control "
                "plane is its registry: pass a registry URL such as 'sqlite:///path/registry.db' "
                "or 'postgresql+psycopg://user@host/db'"
            )
        self.config.registry_url = control_plane_url
        runtime = getattr(self, "_runtime", None)
        if runtime is not None:
            previous = runtime.replicas
            runtime.use_control_plane(control_plane_url)
            if runtime._started:
                await asyncio.to_thread(previous.deregister, runtime.replica_id)
                await runtime.register()
        object.__setattr__(self, "_control_plane_url", control_plane_url)

    async def deregister_from_control_plane(self) -> None:
        """Remove this process's replica from the control plane (it stops heartbeating)."""
        if not getattr(self, "_control_plane_url", None):
            raise ValueError("Control plane URL not set. Call register_to_control_plane first.")
        runtime = getattr(self, "_runtime", None)
        if runtime is not None:
            await runtime.deregister()

    async def get_session_state(self, session_id: str) -> dict[str, Any] | None:
        """The session's state dict, or None for a session never written."""
        from plugin_core.workflow.session import SessionStore

        state = await asyncio.to_thread(SessionStore(self._registry_url()).get, session_id)
        return dict(state.state) if state.version else None

    async def update_session_state(self, session_id: str, state: dict[str, Any]) -> None:
        """Merge ``state`` into the session's state (no concurrent write is lost)."""
        from plugin_core.workflow.session import SessionStore

        await asyncio.to_thread(SessionStore(self._registry_url()).modify, session_id, state)

    async def get_workflow_state(self, state: WorkflowState) -> Any | None:
        """The session's saved llama-index ``Context`` for this workflow, or None."""
        contexts = self._contexts()
        return await asyncio.to_thread(contexts.load, state.session_id)

    async def set_workflow_state(self, ctx: Any, current_state: WorkflowState) -> None:
        """Save ``ctx`` as the session's context (JSON; the next run of the session gets it)."""
        contexts = self._contexts()
        await asyncio.to_thread(contexts.save, ctx, current_state)

    def _contexts(self) -> Any:
        from plugin_core.workflow.llama import WorkflowContexts
        from plugin_core.workflow.session import SessionStore

        return WorkflowContexts(SessionStore(self._registry_url()), self.workflow)
