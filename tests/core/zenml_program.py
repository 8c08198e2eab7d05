"""A program written the ZenML way, only its imports changed: run as a script (``__main__``).

Its service, endpoint and monitor classes live in this script, as a ZenML user writes them;
the monitor overrides ZenML's ``check_endpoint_status`` only. The main block starts two nameless
services, drives them with ZenML's calls and prints what it saw as JSON lines for the test
(tests/core/test_zenml_program.py). The daemon loads this file again as ``__mp_main__`` to find
the classes; the main block must then not run, which ``MARKER`` (argv[1]) records.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import sys
import urllib.request

from plugin_core import (
    BaseServiceEndpointHealthMonitor,
    LocalDaemonService,
    LocalDaemonServiceConfig,
    LocalDaemonServiceEndpoint,
    LocalDaemonServiceEndpointConfig,
    ServiceEndpointHealthMonitorConfig,
    ServiceEndpointProtocol,
    ServiceState,
    ServiceType,
)


class PingMonitorConfig(ServiceEndpointHealthMonitorConfig):
    ping_path: str = "/ping"
    expected: str = "pong"


class PingMonitor(BaseServiceEndpointHealthMonitor):
    """Healthy when GET <uri>/ping answers the expected body."""

    config: PingMonitorConfig

    def check_endpoint_status(self, endpoint):  # type: ignore[no-untyped-def]
        uri = endpoint.status.uri
        if uri is None:
            return ServiceState.INACTIVE, "no address yet"
        try:
            with urllib.request.urlopen(uri + self.config.ping_path, timeout=2) as response:
                body = response.read().decode()
        except OSError as exc:
            return ServiceState.ERROR, f"ping failed: {exc}"
        if body != self.config.expected:
            return ServiceState.ERROR, f"ping answered {body!r}"
        return ServiceState.ACTIVE, ""


class PingEndpointConfig(LocalDaemonServiceEndpointConfig):
    pass


class PingEndpoint(LocalDaemonServiceEndpoint):
    config: PingEndpointConfig
    monitor: PingMonitor


class PingServiceConfig(LocalDaemonServiceConfig):
    answer: str = "pong"


class PingService(LocalDaemonService):
    SERVICE_TYPE = ServiceType(name="ping", description="Answers pings", type="demo", flavor="ping")

    config: PingServiceConfig
    endpoint: PingEndpoint

    def run(self) -> None:
        print(f"run() in module {__name__}, pid {os.getpid()}", flush=True)
        print(f"__main__ is {sys.modules['__main__'].__file__}", flush=True)
        answer = self.config.answer.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                print(f"request {self.path}", flush=True)

        server = http.server.HTTPServer(("127.0.0.1", self.endpoint.status.port or 0), Handler)
        server.serve_forever()


def new_service() -> PingService:
    return PingService(
        config=PingServiceConfig(),
        endpoint=PingEndpoint(
            config=PingEndpointConfig(protocol=ServiceEndpointProtocol.HTTP),
            monitor=PingMonitor(config=PingMonitorConfig()),
        ),
    )


def report(step: str, service: PingService, **facts: object) -> None:
    print(json.dumps({
        "step": step, "name": service.config.service_name, "uuid": str(service.uuid),
        "type": service.type, "state": service.status.state.value,
        "admin_state": service.admin_state.value, "pid": service.status.pid, **facts,
    }), flush=True)  # fmt: skip


def follow_until(service: PingService, needle: str) -> list[str]:
    """ZenML's way to follow logs: iterate, then send True to stop."""
    lines, logs = [], service.get_logs(follow=True)
    for line in logs:
        lines.append(line)
        if needle in line:
            with contextlib.suppress(StopIteration):
                logs.send(True)
            break
    return lines


if __name__ == "__main__":
    with open(sys.argv[1], "a") as marker:
        marker.write(f"main block ran in pid {os.getpid()}\n")

    first = new_service()
    first.start(timeout=0)
    report("started", first)
    report("polled", first, reached=first.poll_service_status(timeout=30))
    url = first.endpoint.status.uri
    with urllib.request.urlopen(f"{url}/ping", timeout=5) as response:
        body = response.read().decode()
    report("answered", first, body=body, is_running=first.is_running,
           endpoint_active=first.endpoint.is_active())  # fmt: skip
    followed = follow_until(first, "request /ping")
    report("logs", first, tail=list(first.get_logs(tail=20)), followed=followed)
    first.stop(timeout=0)
    report("stopped", first, is_stopped=first.is_stopped)

    second = new_service()
    second.start(timeout=30)
    report("second", second)
    second.stop(force=True)
    report("forced", second, is_stopped=second.is_stopped)
