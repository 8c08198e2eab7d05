"""Which engine: a second dockerd reached over TCP through DOCKER_HOST (on loopback, or in a
network namespace of its own), and no engine at all."""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
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
from tests.container.conftest import BASE_IMAGE, SCRIPTS, unavailable

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


@pytest.fixture(scope="module")
def netns_engine(base_image: str) -> Iterator[dict[str, str]]:
    """A dockerd (TLS) in a network namespace this fixture creates: another machine, as far
    as addresses go. It is reached over a veth pair at the namespace's address, a random /30
    of 198.18.0.0/15 (the benchmarking range, routed nowhere), and nowhere else.
    """
    if os.geteuid() != 0:
        unavailable("a network namespace and a second dockerd need root")
    state = tempfile.mkdtemp(prefix="outlive-netns-engine-")
    name = f"olv{uuid.uuid4().hex[:8]}"  # veth names ({name}h, {name}n) stay under 16 bytes
    subnet = ipaddress.ip_network("198.18.0.0/15")
    block = random.randrange(subnet.num_addresses // 4) * 4
    address = subnet.network_address + block + 2
    script = str(SCRIPTS / "docker_remote_engine.sh")
    env = {**os.environ, "OUTLIVE_REMOTE_TLS": "1", "OUTLIVE_REMOTE_NETNS": name,
           "OUTLIVE_REMOTE_NETNS_CIDR": f"{address}/30"}
    try:
        proc = subprocess.run(["bash", script, "up", state, f"{address}:2376"], capture_output=True,
                              text=True, timeout=120, check=False, env=env)
        if proc.returncode != 0:
            unavailable(f"the namespaced Docker engine could not be started:\n{proc.stderr[-2000:]}")
        settings = dict(line.split("=", 1) for line in proc.stdout.split() if "=" in line)
        # The image goes in through the engine's unix socket (a file, reachable from any
        # network namespace): it cannot pull either.
        save = subprocess.Popen(["docker", "save", BASE_IMAGE], stdout=subprocess.PIPE)
        load = subprocess.run(["docker", "load", "-q"], stdin=save.stdout, capture_output=True,
                              text=True, timeout=300, check=False,
                              env={**os.environ, "DOCKER_HOST": settings["OUTLIVE_REMOTE_SOCKET"]})
        if save.wait(timeout=60) != 0 or load.returncode != 0:
            pytest.fail(f"copying {BASE_IMAGE} into the namespaced engine failed: {load.stderr}")
        yield settings
    finally:
        subprocess.run(["bash", script, "down", state], capture_output=True, timeout=120,
                       check=False, env=env)


def test_engine_in_another_network_namespace_publishes_there_and_picks_the_port(
    netns_engine: dict[str, str], registry: Any, unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reached on a non-loopback address, the engine counts as another machine: we cannot check
    its ports from here, so the engine picks one, and the URL names the engine's address."""
    for key in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.setenv(key, netns_engine[key])
    service = ContainerService.http(unique_name, BASE_IMAGE, HTTP_SERVER)
    started = start_service(service, registry=registry, timeout=60)

    engine_ip = netns_engine["DOCKER_HOST"].removeprefix("tcp://").rsplit(":", 1)[0]
    assert started.endpoint is not None
    assert started.endpoint.status.hostname == engine_ip
    assert started.endpoint.status.port is not None
    assert http_get(started.endpoint.status.uri or "")[0] == 200
    stop_service(started, registry=registry)
    assert get_service(unique_name, registry=registry).status.state == ServiceState.INACTIVE


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
