"""``WorkflowService``: a Python callable or workflow served over HTTP, as an outlive service.

Started through the lifecycle (``start_service``) it runs as a local daemon, so it
outlives the run that started it, and ``/readyz`` is its health check: the
Prefect and Airflow adapters start and wait on it like any other service.
``launch_local()`` serves it inside the caller's event loop (tests, notebooks),
``launch_server()`` serves it until cancelled without touching signal handlers
(embedded in a flow or task), ``run()`` is what the daemon process executes.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SerializeAsAny, model_validator

from plugin_core.backends.local import LocalDaemonService, http_endpoint
from plugin_core.model.service_type import ServiceType
from plugin_core.service import BaseDeploymentService
from plugin_core.workflow.config import WorkflowServiceConfig

if TYPE_CHECKING:
    import socket

    from plugin_core.workflow.client import WorkflowClient
    from plugin_core.workflow.models import ReplicaRecord, SessionState
    from plugin_core.workflow.runtime import WorkflowRuntime
    from plugin_core.workflow.server import LocalWorkflow
    from plugin_core.workflow.session import SessionChange

REGISTRY_URL_ENV = "OUTLIVE_REGISTRY_URL"


class WorkflowService(LocalDaemonService, BaseDeploymentService):
    """Serve ``config.workflow`` with bounded concurrency, a durable intake and a control plane."""

    SERVICE_TYPE: ClassVar[ServiceType] = ServiceType(
        type="workflow",
        flavor="local",
        name="Workflow service",
        description="A Python callable or workflow served over HTTP",
    )

    config: SerializeAsAny[WorkflowServiceConfig]

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

    # -- serving --------------------------------------------------------------------------------

    def run(self) -> None:
        """The daemon's work: serve until SIGTERM, then drain and deregister."""
        import logging

        if not logging.getLogger().handlers:
            logging.basicConfig(
                level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
            )
        asyncio.run(self._serve_until_signalled())

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
        from plugin_core.workflow.runtime import WorkflowRuntime
        from plugin_core.workflow.server import bind_socket

        reserved = self.endpoint.status.port if self.endpoint is not None else None
        sock = bind_socket(
            self.config.bind_host, reserved or self.config.internal_port or self.config.port
        )
        bound_port = sock.getsockname()[1]
        url = f"http://{_url_host(self.config.host)}:{self.config.port or bound_port}"
        return WorkflowRuntime(self.config, url=url), sock

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

    def replicas(self, *, alive: bool | None = None) -> list[ReplicaRecord]:
        """Its replicas as the control plane sees them (``alive`` filters on heartbeats)."""
        from plugin_core.workflow.control import ReplicaDirectory

        return ReplicaDirectory(self._registry_url()).find(self.config.service_name, alive=alive)

    def get_session_state(self, session_id: str) -> SessionState:
        """A session's JSON state and version, read from the control plane's store."""
        from plugin_core.workflow.session import SessionStore

        return SessionStore(self._registry_url()).get(session_id)

    def update_session_state(self, session_id: str, change: SessionChange) -> SessionState:
        """Merge a dict into (or apply a function to) a session's state, retrying lost races."""
        from plugin_core.workflow.session import SessionStore

        return SessionStore(self._registry_url()).modify(session_id, change)

    def _registry_url(self) -> str | None:
        if self.config.registry_url is not None:
            return self.config.registry_url
        return self.registry.url if self.registry is not None else None


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
