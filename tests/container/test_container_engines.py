"""Which engine: a second dockerd reached over TCP through DOCKER_HOST, and no engine at all."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from plugin_core import (
    ContainerEngineError,
    ContainerService,
    ServiceState,
    get_service,
    start_service,
    stop_service,
)
from tests.conftest import http_get

# The first test also pays for starting the engine and building the images (a cold build is
# one to two minutes, more on a slow mirror), hence a longer limit than the suite's 300 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

HTTP_SERVER = ["python3", "-u", "-m", "http.server", "{port}"]
LABEL_UUID = "outlive.service-uuid"


def test_remote_engine_through_docker_host_with_tls(
    remote_engine: dict[str, str], base_image: str, registry: Any, unique_name: str,
    docker_client: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import docker

    for key in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.setenv(key, remote_engine[key])
    service = ContainerService.http(unique_name, base_image, HTTP_SERVER)
    started = start_service(service, registry=registry, timeout=60)

    engine_host = remote_engine["DOCKER_HOST"].removeprefix("tcp://").rsplit(":", 1)[0]
    assert started.endpoint is not None
    assert started.endpoint.status.hostname == engine_host  # the engine's address, not localhost
    assert http_get(started.endpoint.status.uri or "")[0] == 200
    # The test's own client needs docker-py#2433 side-stepped too (CA bundle variables win
    # over DOCKER_CERT_PATH): a fixed API version skips the first request, then no env trust.
    remote = docker.from_env(version="1.41")
    remote.api.trust_env = False
    try:
        label = {"label": f"{LABEL_UUID}={started.uuid}"}
        assert [c.status for c in remote.containers.list(all=True, filters=label)] == ["running"]
        assert docker_client.containers.list(all=True, filters=label) == []  # not on the local one
        assert get_service(unique_name, registry=registry).status.state == ServiceState.ACTIVE
        assert any("GET / " in line for line in started.get_logs(tail=10))

        stop_service(started, registry=registry)
        assert remote.containers.list(all=True, filters=label) == []
    finally:
        remote.close()


def test_engine_on_a_non_loopback_address_publishes_there_and_picks_the_port(
    remote_engine: dict[str, str], base_image: str, registry: Any, unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reached on its bridge address, the engine counts as another machine: we cannot check
    its ports from here, so the engine picks one, and the URL names the engine's address."""
    monkeypatch.setenv("DOCKER_HOST", remote_engine["OUTLIVE_REMOTE_BRIDGE_HOST"])
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", remote_engine["DOCKER_CERT_PATH"])
    service = ContainerService.http(unique_name, base_image, HTTP_SERVER)
    started = start_service(service, registry=registry, timeout=60)

    engine_ip = remote_engine["OUTLIVE_REMOTE_BRIDGE_HOST"].removeprefix("tcp://").rsplit(":", 1)[0]
    assert started.endpoint is not None
    assert started.endpoint.status.hostname == engine_ip
    assert started.endpoint.status.port is not None
    assert http_get(started.endpoint.status.uri or "")[0] == 200
    stop_service(started, registry=registry)


def test_remote_engine_without_its_tls_settings_is_a_clear_error(
    remote_engine: dict[str, str], base_image: str, registry: Any, unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", remote_engine["DOCKER_HOST"])
    service = ContainerService.http(unique_name, base_image, HTTP_SERVER)

    with pytest.raises(ContainerEngineError, match="DOCKER_TLS_VERIFY"):
        start_service(service, registry=registry, timeout=30)
    assert get_service(unique_name, registry=registry).status.state != ServiceState.ACTIVE


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("docker_host", ["tcp", "unix"])
def test_engine_not_running_is_a_clear_error_and_no_record_claims_it_runs(
    docker_host: str, base_image: str, registry: Any, unique_name: str,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
) -> None:
    url = (f"tcp://127.0.0.1:{_closed_port()}" if docker_host == "tcp"
           else f"unix://{tmp_path / 'no-engine.sock'}")
    monkeypatch.setenv("DOCKER_HOST", url)
    service = ContainerService.http(unique_name, base_image, HTTP_SERVER)

    with pytest.raises(ContainerEngineError, match="does not answer") as failure:
        start_service(service, registry=registry, timeout=30)

    assert url in str(failure.value) and "DOCKER_HOST" in str(failure.value)
    record = get_service(unique_name, registry=registry)
    assert record.admin_state == ServiceState.INACTIVE
    assert record.status.state == ServiceState.ERROR
