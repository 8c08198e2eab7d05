"""A container on a shared engine is one service for every host: any host may observe and stop it.

Two simulated hosts (PID + mount + UTS namespaces, tests/hosts.py) share one PostgreSQL
registry and the machine's Docker engine. Unlike a local process, a container is reachable
through the engine from anywhere, so another host's stop works and leaves no container.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.host_fixtures import namespaces, postgres, two_hosts
from tests.hosts import HostCallError, SimulatedHost

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(900)]
__all__ = ["namespaces", "postgres", "two_hosts"]  # fixtures used by name

LABEL_UUID = "outlive.service-uuid"
START = """
svc = ContainerService.http(args["name"], args["image"], ["python3", "-u", "-m", "http.server", "{port}"])
started = start_service(svc, timeout=120)
result = [str(started.uuid), started.status.state.value, started.get_prediction_url()]
"""


def test_another_hosts_stop_of_a_container_works(
    two_hosts: tuple[SimulatedHost, SimulatedHost],
    base_image: str,
    docker_client: Any,
    unique_name: str,
) -> None:
    a, b = two_hosts
    uuid, state, _url = a.run(START, name=unique_name, image=base_image)
    assert state == "active"
    assert len(docker_client.containers.list(filters={"label": f"{LABEL_UUID}={uuid}"})) == 1

    seen_from_b = b.run(
        "s = get_service(args['name']); info = service_info(s); "
        "result = [s.status.state.value, info.get('observed'), info['host']]",
        name=unique_name,
    )
    assert seen_from_b[0] == "active" and seen_from_b[1] is None  # observed through the engine
    assert seen_from_b[2].startswith("host-a")

    stopped = b.run("result = stop_service(args['name']).status.state.value", name=unique_name)
    assert stopped == "inactive"
    assert docker_client.containers.list(all=True, filters={"label": f"{LABEL_UUID}={uuid}"}) == []
    assert a.run("result = get_service(args['name']).status.state.value", name=unique_name) == "inactive"


def test_a_host_reaching_another_engine_neither_judges_nor_stops_the_container(
    two_hosts: tuple[SimulatedHost, SimulatedHost],
    base_image: str,
    docker_client: Any,
    unique_name: str,
    remote_engine: dict[str, str],
) -> None:
    """Host B's DOCKER_HOST reaches a second engine: the container is not there, so B must not
    record it gone, replace it or stop it; it says so, and stops it once it reaches its engine."""
    a, b = two_hosts
    uuid, state, _url = a.run(START, name=unique_name, image=base_image)
    assert state == "active"
    settings = {key: remote_engine[key] for key in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")}
    b.run("os.environ.update(args['settings'])", settings=settings)

    seen_from_b = b.run(
        "s = get_service(args['name']); info = service_info(s); "
        "result = [s.status.state.value, info.get('observed'), s.status.last_error]",
        name=unique_name,
    )
    assert seen_from_b[0] == "active" and "runs on Docker engine" in seen_from_b[1], seen_from_b
    for call in ("stop_service(args['name'])",
                 "start_service(ContainerService.http(args['name'], args['image'], ['sleep', '60']))"):
        with pytest.raises(HostCallError) as raised:
            b.run(call, name=unique_name, image=base_image)
        assert raised.value.kind == "ServiceOnOtherHostError" and "host-a" in raised.value.message
    reused = b.run(START, name=unique_name, image=base_image)
    assert reused[0] == uuid  # the same definition: A's container, not a second one
    assert len(docker_client.containers.list(filters={"label": f"{LABEL_UUID}={uuid}"})) == 1
    assert a.run("result = get_service(args['name']).status.state.value", name=unique_name) == "active"

    b.run("[os.environ.pop(key) for key in args['settings']]", settings=settings)
    assert b.run("result = stop_service(args['name']).status.state.value", name=unique_name) == "inactive"
    assert docker_client.containers.list(all=True, filters={"label": f"{LABEL_UUID}={uuid}"}) == []
