"""The ZenML-style daemon of ``bench_daemon_start.py``: a ``LocalDaemonService`` whose ``run()``
serves HTTP, written as a ZenML user writes one (imported by the daemon process by name)."""

from __future__ import annotations

import http.server

from plugin_core import LocalDaemonService, LocalDaemonServiceConfig, ServiceType


class HTTPDaemonConfig(LocalDaemonServiceConfig):
    """Nothing of its own: a user's config subclass, as in ZenML's examples."""


class HTTPDaemon(LocalDaemonService):
    """Serves the stdlib's HTTP handler on the endpoint's port from inside ``run()``."""

    SERVICE_TYPE = ServiceType(type="bench", flavor="http-daemon", name="bench HTTP daemon")
    config: HTTPDaemonConfig

    def run(self) -> None:
        assert self.endpoint is not None and self.endpoint.status.port is not None
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", self.endpoint.status.port), http.server.SimpleHTTPRequestHandler
        )
        server.serve_forever()
