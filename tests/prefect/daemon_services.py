"""Code the prefect tests run as services; importable by name so daemons can load it back.

``EchoService`` is a user-defined ``LocalDaemonService`` (a subclass with its own
``run()``), as a ``LocalDaemonServiceBlock`` names one by import path.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from plugin_core import LocalDaemonService, LocalDaemonServiceConfig


class EchoServiceConfig(LocalDaemonServiceConfig):
    """What the echo service answers with."""

    greeting: str = "hello"


class EchoService(LocalDaemonService):
    """Answers every GET with its greeting."""

    config: EchoServiceConfig

    def run(self) -> None:
        """Serve until the daemon is stopped (SIGTERM ends ``serve_forever``)."""
        assert self.endpoint is not None and self.endpoint.status.port is not None
        greeting = self.config.greeting.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(greeting)))
                self.end_headers()
                self.wfile.write(greeting)

        host = self.endpoint.status.hostname or "127.0.0.1"
        ThreadingHTTPServer((host, self.endpoint.status.port), Handler).serve_forever()
