"""``WorkflowService``: a Python callable or workflow served over HTTP, as an outlive service.

Started through the lifecycle (``start_service``) it runs as a local daemon, so it
outlives the run that started it, and ``/readyz`` is its health check: the
Prefect and Airflow adapters start and wait on it like any other service.
``launch_local()`` serves it inside the caller's event loop (tests, notebooks),
``launch_server()`` serves it until cancelled without touching signal handlers
(embedded in a flow or task), ``run()`` is what the daemon process executes.

It is also llama_deploy's ``WorkflowService``: ``WorkflowService(workflow,
message_queue=..., service_name=..., host=..., port=...)`` takes a workflow
object, and the members of :class:`~plugin_core.workflow.llama_face.LlamaDeployFace`
behave as llama_deploy 0.5 documents them.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import PrivateAttr, model_validator

from plugin_core.backends.local import LocalDaemonService, http_endpoint
from plugin_core.deployment import BaseDeploymentService
from plugin_core.errors import ConfigError
from plugin_core.model.duck_serialized import DuckSerialized
from plugin_core.model.service_type import ServiceType
from plugin_core.workflow.config import WorkflowServiceConfig
from plugin_core.workflow.llama_face import LlamaDeployFace

if TYPE_CHECKING:
    import socket

    from plugin_core.workflow.client import WorkflowClient
    from plugin_core.workflow.models import ReplicaRecord, SessionState, TaskRecord
    from plugin_core.workflow.runtime import WorkflowRuntime
    from plugin_core.workflow.server import LocalWorkflow
    from plugin_core.workflow.session import SessionChange
    from plugin_core.workflow.target import WorkflowTarget

REGISTRY_URL_ENV = "OUTLIVE_REGISTRY_URL"
_LLAMA_DEFAULT_NAME = "default_workflow_service"
_LLAMA_DEFAULT_DESCRIPTION = "Workflow service."


class WorkflowService(LlamaDeployFace, LocalDaemonService, BaseDeploymentService):
    """Serve ``config.workflow`` with bounded concurrency, a durable intake and a control plane.

    Two ways to build one: ``WorkflowService(config=WorkflowServiceConfig(...))`` (or
    ``WorkflowService.for_workflow("module:attr", "name")``), and llama_deploy's
    ``WorkflowService(workflow, message_queue=..., service_name=..., ...)`` where
    ``workflow`` is a llama-index ``Workflow``, any object with an async ``run(**kwargs)``,
    a function, or an import path, and ``message_queue`` a queue URL (default ``sqlite``).
    """

    SERVICE_TYPE: ClassVar[ServiceType] = ServiceType(
        type="workflow",
        flavor="local",
        name="Workflow service",
        description="A Python callable or workflow served over HTTP",
    )

    config: DuckSerialized[WorkflowServiceConfig]

    _workflow_object: Any = PrivateAttr(default=None)
    _workflow_path_exact: bool = PrivateAttr(default=True)
    _runtime: WorkflowRuntime | None = PrivateAttr(default=None)
    _control_plane_url: str | None = PrivateAttr(default=None)

    def __init__(
        self,
        workflow: Any = None,
        message_queue: str | None = None,
        running: bool | None = None,
        description: str | None = None,
        service_name: str | None = None,
        step_interval: float | None = None,
        max_concurrent_tasks: int | None = None,
        host: str | None = None,
        port: int | None = None,
        internal_host: str | None = None,
        internal_port: int | None = None,
        raise_exceptions: bool | None = None,
        **data: Any,
    ) -> None:
        llama = {
            "queue_url": message_queue,
            "running": running,
            "description": description,
            "service_name": service_name,
            "step_interval": step_interval,
            "max_concurrent_tasks": max_concurrent_tasks,
            "host": host,
            "port": port,
            "internal_host": internal_host,
            "internal_port": internal_port,
            "raise_exceptions": raise_exceptions,
        }
        given: dict[str, Any] = {key: value for key, value in llama.items() if value is not None}
        obj, exact = None, True
        if workflow is not None or given:
            if "config" in data:
                raise ConfigError(
                    "WorkflowService takes either config=WorkflowServiceConfig(...) or "
                    "llama_deploy's arguments (workflow, message_queue, service_name...), not both"
                )
            path, obj, exact = _workflow_path(workflow)
            given.setdefault("service_name", _LLAMA_DEFAULT_NAME)
            given.setdefault("description", _LLAMA_DEFAULT_DESCRIPTION)
            data["config"] = WorkflowServiceConfig(
                name=given["service_name"], workflow=path, **given
            )
        super().__init__(**data)
        self._workflow_object = obj
        self._workflow_path_exact = exact

    @model_validator(mode="after")
    def _default_endpoint(self) -> WorkflowService:
        if self.endpoint is None:
            endpoint = http_endpoint(
                self.config.internal_port or self.config.port,
                health_path="/readyz",
                host=self.config.bind_host,
            )
            object.__setattr__(self, "endpoint", endpoint)
        return self

    @classmethod
    def for_workflow(cls, workflow: str, name: str, **settings: Any) -> WorkflowService:
        """Shorthand: ``WorkflowService.for_workflow("app.flows:summarise", "summariser")``."""
        return cls(config=WorkflowServiceConfig(name=name, workflow=workflow, **settings))

    @property
    def workflow(self) -> Any:
        """The workflow itself: the object given, or what ``config.workflow`` imports."""
        if self._workflow_object is None:
            self._workflow_object = self._target().obj
        return self._workflow_object

    def _target(self) -> WorkflowTarget:
        from plugin_core.workflow.target import load_target

        if self._workflow_object is not None:
            return load_target(self._workflow_object)
        if not self.config.workflow:
            raise ConfigError(
                f"Workflow service {self.config.service_name!r} has no workflow: pass one "
                "(WorkflowService(workflow, ...)) or set workflow='package.module:attribute'"
            )
        return load_target(self.config.workflow)

    def check_importable(self) -> None:
        """Refuse a daemon start the daemon could not honour: its workflow must import by path."""
        super().check_importable()
        if not self.config.workflow:
            self._target()  # raises the clear "has no workflow" error
        if not self._workflow_path_exact or self.config.workflow.startswith("__main__:"):
            raise ConfigError(
                f"Workflow service {self.config.service_name!r}: the workflow object cannot be "
                "found again by an import path, so a daemon (start(), start_service) cannot "
                "load it. Assign it to a module-level name in an importable module, or pass "
                "'package.module:attribute'; launch_local() and launch_server() serve the "
                "object in this process as it is."
            )

    # -- serving --------------------------------------------------------------------------------

    def run(self) -> None:
        """The daemon's work: serve until SIGTERM, then drain and deregister (exit 0), or
        exit 1 after a task-queue outage longer than ``queue_outage_limit``."""
        import logging

        if not logging.getLogger().handlers:
            logging.basicConfig(
                level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
            )
        from plugin_core.workflow.errors import QueueUnavailableError

        try:
            asyncio.run(self._serve_until_signalled())
        except QueueUnavailableError:  # logged once by the outage watcher; the exit code says it
            raise SystemExit(1) from None

    async def launch_server(self) -> None:
        """Serve in the running loop until cancelled; installs no signal handlers."""
        from plugin_core.workflow.server import serve

        runtime, sock = self._prepare()
        await serve(runtime, sock)

    async def launch_local(self) -> LocalWorkflow:
        """Serve as a task of the running loop; returns once it accepts requests.

        ``await (await service.launch_local()).stop()`` drains and stops it.
        """
        from plugin_core.workflow.server import launch_local

        runtime, sock = self._prepare()
        return await launch_local(runtime, sock)

    async def _serve_until_signalled(self) -> None:
        from plugin_core.workflow.server import build_server, serve

        runtime, sock = self._prepare()
        server = build_server(runtime)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, setattr, server, "should_exit", True)
        await serve(runtime, sock, server)

    def _prepare(self) -> tuple[WorkflowRuntime, socket.socket]:
        """Bind first (so the advertised URL has the real port), then build the runtime."""
        from plugin_core.workflow.server import bind_socket

        reserved = self.endpoint.status.port if self.endpoint is not None else None
        sock = bind_socket(
            self.config.bind_host, reserved or self.config.internal_port or self.config.port
        )
        bound_port = sock.getsockname()[1]
        url = f"http://{_url_host(self.config.host)}:{self.config.port or bound_port}"
        runtime = self._runtime_for()
        runtime.url = url
        return runtime, sock

    def _runtime_for(self) -> WorkflowRuntime:
        """This object's replica: made once, reused until it has run and stopped."""
        from plugin_core.workflow.runtime import WorkflowRuntime

        runtime = self._runtime
        if runtime is None or runtime.ended.is_set():
            url = self.base_url or f"http://{_url_host(self.config.host)}"
            runtime = WorkflowRuntime(self.config, url=url, target=self._target())
            self._runtime = runtime
        return runtime

    # -- daemon ---------------------------------------------------------------------------------

    def daemon_env(self) -> dict[str, str]:
        """The daemon's environment, plus the registry it was started in as its control plane."""
        env = super().daemon_env()
        if self.config.registry_url is None and self.registry is not None:
            env.setdefault(REGISTRY_URL_ENV, self.registry.url)
        root = _import_root(self.config.workflow.partition(":")[0])
        if root:
            existing = env.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
            env["PYTHONPATH"] = os.pathsep.join(p for p in (existing, root) if p)
        return env

    # -- using it -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str | None:
        """Where clients reach it: the advertised host and port."""
        if self.endpoint is None or not (self.config.port or self.endpoint.status.port):
            return None
        return (
            f"http://{_url_host(self.config.host)}:{self.config.port or self.endpoint.status.port}"
        )

    def client(self, **options: Any) -> WorkflowClient:
        """A :class:`WorkflowClient` for this service (it must have a known address)."""
        from plugin_core.errors import ConfigError
        from plugin_core.workflow.client import WorkflowClient

        if self.base_url is None:
            raise ConfigError(
                f"Workflow service {self.config.service_name!r} has no address yet: start it first"
            )
        return WorkflowClient(self.base_url, **options)

    async def wait_for_task(self, task_id: str, timeout: float = 300.0) -> TaskRecord:
        """A task's record once final (or as it is at ``timeout``), read from this object's
        queue: for llama_deploy-style code that runs the workers without HTTP."""
        from plugin_core.workflow.errors import TaskNotFoundError

        runtime = self._runtime_for()
        await runtime.open_queue()
        record = await runtime.queue.wait_final(task_id, timeout)
        if record is None:
            raise TaskNotFoundError(task_id, runtime.url)
        return record

    def replicas(self, *, alive: bool | None = None) -> list[ReplicaRecord]:
        """Its replicas as the control plane sees them (``alive`` filters on heartbeats)."""
        from plugin_core.workflow.control import ReplicaDirectory

        return ReplicaDirectory(self._registry_url()).find(self.config.service_name, alive=alive)

    def session_state(self, session_id: str) -> SessionState:
        """A session's JSON state and version, read from the control plane's store (sync;
        llama_deploy's ``await get_session_state(id)`` returns the state dict alone)."""
        from plugin_core.workflow.session import SessionStore

        return SessionStore(self._registry_url()).get(session_id)

    def modify_session_state(self, session_id: str, change: SessionChange) -> SessionState:
        """Merge a dict into (or apply a function to) a session's state, retrying lost races."""
        from plugin_core.workflow.session import SessionStore

        return SessionStore(self._registry_url()).modify(session_id, change)

    def _registry_url(self) -> str | None:
        if self.config.registry_url is not None:
            return self.config.registry_url
        return self.registry.url if self.registry is not None else None


def _workflow_path(workflow: Any) -> tuple[str, Any, bool]:
    """``(import path, object, exact)`` for what llama_deploy's constructor was given.

    A string is an import path. For an object, the path names the module-level attribute
    holding it when there is one (exact); else its class (not exact: a daemon would build
    a different object, so :meth:`WorkflowService.check_importable` refuses to start one).
    """
    import sys

    if workflow is None:
        return "", None, False
    if isinstance(workflow, str):
        return workflow, None, True
    if isinstance(workflow, type) or (callable(workflow) and hasattr(workflow, "__qualname__")):
        module = getattr(workflow, "__module__", "")
        if module and "<locals>" not in workflow.__qualname__:
            return f"{module}:{workflow.__qualname__}", workflow, True
    cls = type(workflow)
    namespace = vars(sys.modules[cls.__module__]) if cls.__module__ in sys.modules else {}
    for name, value in namespace.items():
        if value is workflow and not name.startswith("_"):
            return f"{cls.__module__}:{name}", workflow, True
    return f"{cls.__module__}:{cls.__qualname__}", workflow, False


def _import_root(module: str) -> str | None:
    """The sys.path entry ``module`` imports from here, so the daemon (whose working
    directory is its runtime directory) imports the same workflow; None if not found."""
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not os.path.isabs(spec.origin):
        return None
    root = Path(spec.origin).parent
    for _ in range(module.count(".") + (1 if spec.submodule_search_locations else 0)):
        root = root.parent
    return None if "site-packages" in root.parts else str(root)


def _url_host(host: str) -> str:
    """A host as it appears in a URL: IPv6 in brackets, a wildcard bind as loopback."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
