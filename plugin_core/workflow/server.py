"""Serving a runtime with uvicorn, embedded in someone else's event loop.

uvicorn normally owns the process's signals; embedded in a Prefect flow, an
Airflow task or a notebook it must not, so :class:`EmbeddedServer` leaves them
alone and stops when told (or cancelled). The daemon entrypoint adds its own
SIGTERM handler that asks for the same graceful stop: drain, deregister, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from plugin_core.workflow.app import create_app
from plugin_core.workflow.runtime import WorkflowRuntime

if TYPE_CHECKING:
    from plugin_core.workflow.client import AsyncWorkflowClient, WorkflowClient

_STARTUP_TIMEOUT = 60.0


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that installs no signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int | None) -> socket.socket:
    """A listening-ready socket on ``host:port`` (0 or None: a free port), before the app starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
    # IPPROTO_TCP, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port or 0))
    sock.set_inheritable(True)
    return sock


def build_server(runtime: WorkflowRuntime) -> EmbeddedServer:
    """A quiet uvicorn server for ``runtime``'s app (access log off: it costs throughput)."""
    config = uvicorn.Config(
        create_app(runtime),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(runtime.config.drain_timeout) + 5,
        backlog=2048,
    )
    server = EmbeddedServer(config)
    runtime.on_fatal = lambda _exc: setattr(server, "should_exit", True)
    return server


async def serve(
    runtime: WorkflowRuntime, sock: socket.socket, server: EmbeddedServer | None = None
) -> None:
    """Serve until stopped or cancelled; re-raise a worker's error (``raise_exceptions``)."""
    server = server or build_server(runtime)
    try:
        await server.serve(sockets=[sock])
    except asyncio.CancelledError:
        # Cancelled (llama_deploy's way to stop launch_server): shut down as on SIGTERM,
        # so the runtime drains and deregisters, then let the cancellation through.
        await _shutdown(server, sock)
        raise
    finally:
        sock.close()
    if runtime.fatal is not None:
        raise runtime.fatal
    if not server.started:
        raise RuntimeError(f"workflow service {runtime.config.service_name} failed to start")


async def _shutdown(server: EmbeddedServer, sock: socket.socket) -> None:
    server.should_exit = True
    if server.started:
        await server.shutdown(sockets=[sock])
    elif getattr(server, "lifespan", None) is not None:
        await server.lifespan.shutdown()


class LocalWorkflow(asyncio.Task[None]):
    """A workflow service running in this event loop (see ``WorkflowService.launch_local``).

    It is the ``asyncio.Task`` that serves it, as llama_deploy's ``launch_local()``
    returns: ``cancel()`` stops it (draining and deregistering first), ``await`` waits
    for its end and re-raises what stopped it. ``url``, ``client()`` and ``stop()``
    are outlive's additions.
    """

    def __init__(
        self, runtime: WorkflowRuntime, sock: socket.socket, server: EmbeddedServer
    ) -> None:
        super().__init__(serve(runtime, sock, server), name="workflow-server")
        self.url = runtime.url
        self.runtime = runtime
        self.server = server

    @property
    def task(self) -> asyncio.Task[None]:
        """This task (kept for code written before ``LocalWorkflow`` was one)."""
        return self

    def client(self) -> WorkflowClient:
        """A sync client for this service (use it from another thread, not this loop)."""
        from plugin_core.workflow.client import WorkflowClient

        return WorkflowClient(self.url)

    def async_client(self) -> AsyncWorkflowClient:
        """An async client for this service."""
        from plugin_core.workflow.client import AsyncWorkflowClient

        return AsyncWorkflowClient(self.url)

    async def stop(self) -> None:
        """Drain and stop; re-raises what stopped the service, if anything did."""
        self.server.should_exit = True
        await self


async def launch_local(runtime: WorkflowRuntime, sock: socket.socket) -> LocalWorkflow:
    """Start serving as a task of the running loop; return once the socket accepts requests."""
    from plugin_core.waiting import await_until

    server = build_server(runtime)
    server_task = LocalWorkflow(runtime, sock, server)

    async def started() -> bool | None:
        return True if server.started or server_task.done() else None

    if await await_until(started, timeout=_STARTUP_TIMEOUT) is None:
        server_task.cancel()
        raise TimeoutError(f"workflow service did not start within {_STARTUP_TIMEOUT:g}s")
    if server_task.done():
        await server_task  # raises the start-up error
    return server_task
