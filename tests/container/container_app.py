"""A ZenML-style container service for the tests: ``run()`` serves HTTP inside the container.

It lives in its own module (not a test file) because the container imports it by name: with
a local engine, ContainerService mounts this directory read-only and puts it on PYTHONPATH.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from plugin_core import ContainerService


class GreetingService(ContainerService):
    """Answers every GET with ``hello from <service name>``; says goodbye on SIGTERM."""

    def run(self) -> None:
        assert self.endpoint is not None
        port = self.endpoint.status.container_port
        assert port is not None
        greeting = f"hello from {self.config.service_name}".encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(greeting)))
                self.end_headers()
                self.wfile.write(greeting)

        server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
        print(f"greeting service listening on {port}", flush=True)
        try:
            server.serve_forever()
        finally:
            print("greeting service stopping cleanly", flush=True)
            server.server_close()
