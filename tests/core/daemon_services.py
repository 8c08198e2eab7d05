"""LocalDaemonService subclasses used by the tests, written as a ZenML user would write them."""

from __future__ import annotations

import http.server
import os
import sys
import time

from plugin_core import LocalDaemonService, LocalDaemonServiceConfig


class CounterConfig(LocalDaemonServiceConfig):
    """A config with a field of our own, to check it reaches the daemon."""

    greeting: str = "hello"


class LoopService(LocalDaemonService):
    """A plain `while True` loop: SIGTERM must still end it."""

    config: CounterConfig

    def run(self) -> None:
        print(f"{self.config.greeting} from pid {os.getpid()}", flush=True)
        while True:
            time.sleep(0.05)


class HTTPService(LocalDaemonService):
    """Serves HTTP on the endpoint's port from inside run()."""

    def run(self) -> None:
        assert self.endpoint is not None and self.endpoint.status.port is not None
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", self.endpoint.status.port), http.server.SimpleHTTPRequestHandler
        )
        print(f"serving on {self.endpoint.status.port}", flush=True)
        server.serve_forever()


class CrashingService(LocalDaemonService):
    """Raises after printing, so the crash reason can be checked."""

    def run(self) -> None:
        print("about to fail", flush=True)
        raise RuntimeError("model file not found: /nowhere/model.pkl")


class ExitingService(LocalDaemonService):
    """Exits with a given code."""

    def run(self) -> None:
        sys.exit(3)


class ReturningService(LocalDaemonService):
    """A ZenML-style run() that does its work and returns normally after ``seconds``."""

    config: CounterConfig

    def run(self) -> None:
        print(f"{self.config.greeting}: working", flush=True)
        time.sleep(float(self.config.description or 0))
        print("done", flush=True)
