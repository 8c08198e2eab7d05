"""The container backend's rules that need no engine: how the engine's state reads, where a
remote engine's ports are published, and what a definition may say. Fast; no Docker."""

from __future__ import annotations

import pytest

from plugin_core import (
    BaseService,
    ConfigError,
    ContainerService,
    ContainerServiceEndpoint,
    ServiceState,
    load_service,
)
from plugin_core.backends import _docker_engine as engine

pytestmark = pytest.mark.integration  # the directory's convention; these run in milliseconds


@pytest.mark.parametrize(
    ("state", "stopped", "expected", "words"),
    [
        ({"Status": "running"}, False, ServiceState.ACTIVE, ""),
        ({"Status": "running", "Health": {"Status": "unhealthy"}}, False, ServiceState.ERROR,
         "unhealthy"),
        ({"Status": "restarting", "ExitCode": 3}, False, ServiceState.PENDING_STARTUP,
         "exit code 3"),
        ({"Status": "created"}, False, ServiceState.PENDING_STARTUP, "not started"),
        ({"Status": "paused"}, False, ServiceState.ERROR, "docker unpause outlive-x"),
        ({"Status": "exited", "ExitCode": 137}, False, ServiceState.ERROR, "SIGKILL"),
        ({"Status": "exited", "ExitCode": 137, "OOMKilled": True}, False, ServiceState.ERROR,
         "out of memory"),
        ({"Status": "exited", "ExitCode": 0}, True, ServiceState.INACTIVE, ""),
    ],
)
def test_engine_state_reads_as_a_service_state(
    state: dict[str, object], stopped: bool, expected: ServiceState, words: str
) -> None:
    judged, message = engine.judge_state(state, 1, "outlive-x", stopped)
    assert judged == expected
    assert words in message


def test_engine_location_follows_docker_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    local = engine.location()
    assert local.on_this_machine and local.publish_ip("127.0.0.1") == "127.0.0.1"
    assert local.hostname("0.0.0.0") == "127.0.0.1"

    monkeypatch.setenv("DOCKER_HOST", "tcp://10.1.2.3:2376")
    remote = engine.location()
    assert not remote.on_this_machine
    assert remote.publish_ip("127.0.0.1") == "10.1.2.3"  # its loopback is not ours
    assert remote.publish_ip("0.0.0.0") == "0.0.0.0"
    assert remote.hostname("10.1.2.3") == remote.hostname("0.0.0.0") == "10.1.2.3"

    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert engine.location().host is None


def test_log_frames_are_joined_into_lines() -> None:
    chunks = [b"first li", b"ne\nsecond\r\nthi", b"rd"]
    assert list(engine.split_lines(chunks)) == ["first line", "second", "third"]


def test_a_definition_round_trips_with_its_container_types() -> None:
    service = load_service({
        "type": "container",
        "config": {"name": "web", "image": "nginx:1.27", "command": "nginx -g 'daemon off;'",
                   "volumes": ["/srv/site:/usr/share/nginx/html:ro"], "mem_limit": "256m"},
        "endpoint": {"health": "/", "port": 8080},
    })
    again = BaseService.from_json(service.to_json())

    assert isinstance(again, ContainerService)
    assert isinstance(again.endpoint, ContainerServiceEndpoint)
    assert again.config.command == ["nginx", "-g", "daemon off;"]
    assert again.to_dict() == service.to_dict()


def test_bad_definitions_are_refused_before_any_engine_is_asked() -> None:
    with pytest.raises(ConfigError, match="volume"):
        load_service({"type": "container", "config": {"name": "v", "image": "x",
                                                       "volumes": ["no-colon"]}})
    with pytest.raises(ConfigError, match=r"config\.environment: variable name 'A=B'"):
        load_service({"type": "container", "config": {"name": "v", "image": "x",
                                                       "environment": {"A=B": "1"}}})
    with pytest.raises(ConfigError, match=r"config\.secret_environment: variable 'T': its secret"):
        load_service({"type": "container", "config": {"name": "v", "image": "x",
                                                       "secret_environment": {"T": "a\0b"}}})
    with pytest.raises(ConfigError, match="set `image`"):
        ContainerService(config={"name": "nothing-to-run"}).provision()
