"""A container service names its own engine (``docker_host``) and registry login
(``registry_auth``), as Prefect's Docker host and credentials blocks hand them over."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from plugin_core import ContainerEngineError, ContainerService, start_service
from plugin_core.backends.container import RegistryAuth
from tests.conftest import http_get

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

HTTP_SERVER = ["python3", "-u", "-m", "http.server", "{port}"]
LOCAL_SOCKET = "unix:///var/run/docker.sock"


def test_docker_host_is_used_instead_of_the_environment(
    base_image: str, registry: Any, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With DOCKER_HOST pointing nowhere, a service naming the real engine still starts."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    service = ContainerService.http(unique_name, base_image, HTTP_SERVER, docker_host=LOCAL_SOCKET)

    started = start_service(service, registry=registry, timeout=60)

    assert http_get(started.get_prediction_url() or "")[0] == 200
    assert registry.get(unique_name).config.docker_host == LOCAL_SOCKET


class _Registry(http.server.BaseHTTPRequestHandler):
    """Just enough of the registry API to demand a Basic login and record what came."""

    seen: list[str] = []

    def _answer(self) -> None:
        authorization = self.headers.get("Authorization", "")
        type(self).seen.append(authorization)
        if not authorization:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="outlive-test"')
            body = b'{"errors": [{"code": "UNAUTHORIZED", "message": "login"}]}'
        elif self.path == "/v2/":
            self.send_response(200)
            body = b"{}"
        else:
            self.send_response(404)
            body = b'{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "no such image"}]}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def private_registry() -> Iterator[tuple[str, list[str]]]:
    """A local registry endpoint (the engine allows plain HTTP on 127.0.0.0/8)."""
    _Registry.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", _Registry.seen
    finally:
        server.shutdown()


def test_registry_auth_reaches_the_registry_and_is_never_stored(
    docker_engine: None,
    registry: Any,
    unique_name: str,
    private_registry: tuple[str, list[str]],
) -> None:
    """The engine pulls with the given login; the registry record holds no password."""
    address, seen = private_registry
    service = ContainerService.http(
        unique_name,
        f"{address}/team/model:1",
        registry_auth=RegistryAuth(username="ci", password="pw-7d1c", registry=address),
    )

    with pytest.raises(ContainerEngineError, match="pulling it failed"):
        start_service(service, registry=registry, timeout=30)

    expected = "Basic " + base64.b64encode(b"ci:pw-7d1c").decode()
    assert expected in seen, seen
    stored = json.dumps([record.__dict__ for record in registry.list_records()], default=str)
    assert "pw-7d1c" not in stored
