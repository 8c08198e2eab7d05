"""Container services on a real Docker engine, checked as a user would: HTTP from the host,
the engine's own view through the SDK, logs, kills from outside, restarts, cleanup."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from plugin_core import (
    ContainerEngineError,
    ContainerService,
    RestartPolicy,
    ServiceFailedError,
    ServiceState,
    delete_service,
    get_service,
    load_service,
    start_service,
    stop_service,
    update_service,
)
from tests.conftest import http_get
from tests.container.container_app import GreetingService

# The first test also pays for starting the engine and building the images (a cold build is
# one to two minutes, more on a slow mirror), hence a longer limit than the suite's 300 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

HTTP_SERVER = ["python3", "-u", "-m", "http.server", "{port}"]
LABEL_UUID = "outlive.service-uuid"


def web(name: str, image: str, **config: Any) -> ContainerService:
    """Python's http.server in the plain Debian image: 'any image and command'."""
    return ContainerService.http(name, image, HTTP_SERVER, **config)


def containers_of(client: Any, service: Any) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": f"{LABEL_UUID}={service.uuid}"}))


def answers(url: str) -> bool:
    """True once a real GET gets a 200 (a refused or reset connection is just 'not yet')."""
    try:
        return http_get(url, timeout=2)[0] == 200
    except OSError:
        return False


def wait_for(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def test_run_subclass_reaches_active_and_answers(
    runtime_image: str, registry: Any, unique_name: str, docker_client: Any
) -> None:
    service = GreetingService.http(unique_name, runtime_image)
    started = start_service(service, registry=registry, timeout=60)

    assert started.status.state == ServiceState.ACTIVE
    assert started.endpoint is not None and started.endpoint.status.hostname == "127.0.0.1"
    status, body = http_get(started.endpoint.status.uri or "")
    assert (status, body) == (200, f"hello from {unique_name}")
    [container] = containers_of(docker_client, started)
    assert container.status == "running"


def test_image_and_command_service_answers_from_the_host(
    base_image: str, registry: Any, unique_name: str
) -> None:
    started = start_service(web(unique_name, base_image), registry=registry, timeout=60)

    assert started.status.state == ServiceState.ACTIVE
    status, body = http_get(started.get_prediction_url() or "")
    assert status == 200 and "Directory listing" in body


def test_container_is_created_as_the_issue_asks(
    base_image: str, registry: Any, unique_name: str, docker_client: Any
) -> None:
    service = web(unique_name, base_image, mem_limit="256m", cpus=0.5,
                  restart=RestartPolicy(mode="on-failure", max_restarts=3),
                  labels={"team": "ml"})
    started = start_service(service, registry=registry, timeout=60)

    attrs = docker_client.containers.get(started.status.container_id).attrs
    host = attrs["HostConfig"]
    assert attrs["Name"] == f"/outlive-{unique_name}"
    assert attrs["Config"]["Labels"][LABEL_UUID] == str(started.uuid)
    assert attrs["Config"]["Labels"]["outlive.service-name"] == unique_name
    assert attrs["Config"]["Labels"]["outlive.label.team"] == "ml"
    assert host["Init"] is True and host["AutoRemove"] is False
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["Memory"] == 256 * 1024 * 1024 and host["NanoCpus"] == 500_000_000
    [binding] = host["PortBindings"].values()
    assert binding == [{"HostIp": "127.0.0.1", "HostPort": str(started.endpoint.status.port)}]


def test_start_is_idempotent_by_name(base_image: str, registry: Any, unique_name: str) -> None:
    first = start_service(web(unique_name, base_image), registry=registry, timeout=60)
    second = start_service(web(unique_name, base_image), registry=registry, timeout=60)

    assert second.uuid == first.uuid
    assert second.status.container_id == first.status.container_id


def test_container_outlives_the_process_that_started_it(
    base_image: str, registry: Any, unique_name: str, docker_client: Any
) -> None:
    script = textwrap.dedent(f"""
        from plugin_core import ContainerService, ServiceRegistry, start_service
        service = ContainerService.http({unique_name!r}, {base_image!r}, {HTTP_SERVER!r})
        start_service(service, registry=ServiceRegistry({registry.url!r}), timeout=60)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)

    service = get_service(unique_name, registry=registry)
    assert service.status.state == ServiceState.ACTIVE
    assert http_get(service.endpoint.status.uri or "")[0] == 200
    assert [c.status for c in containers_of(docker_client, service)] == ["running"]


def test_logs_show_the_service_output(
    base_image: str, registry: Any, unique_name: str, docker_client: Any
) -> None:
    started = start_service(web(unique_name, base_image), registry=registry, timeout=60)
    http_get((started.endpoint.status.uri or "") + "/?hello-logs")

    def logged() -> bool:
        return any("/?hello-logs" in line for line in started.get_logs(tail=20))

    wait_for(logged)
    docker_logs = docker_client.containers.get(started.status.container_id).logs().decode()
    assert "/?hello-logs" in docker_logs  # the same stream `docker logs` shows
    follow = started.get_logs(follow=True)
    assert any("/?hello-logs" in line for line in (next(follow) for _ in range(3)))
    follow.close()


def test_run_subclass_stops_cleanly_on_sigterm_and_keeps_its_log(
    runtime_image: str, registry: Any, unique_name: str, docker_client: Any
) -> None:
    service = GreetingService.http(unique_name, runtime_image)
    started = start_service(service, registry=registry, timeout=60)
    began = time.monotonic()
    stopped = stop_service(started, registry=registry, timeout=10)

    assert time.monotonic() - began < 5  # SIGTERM reached run() through the init process
    assert stopped.status.state == ServiceState.INACTIVE
    assert containers_of(docker_client, stopped) == []
    log = "\n".join(stopped.get_logs())  # the container is gone: the saved log answers
    assert "greeting service stopping cleanly" in log


def test_container_killed_from_outside_is_reported_with_its_exit_code(
    base_image: str, registry: Any, unique_name: str, docker_client: Any
) -> None:
    started = start_service(web(unique_name, base_image), registry=registry, timeout=60)
    docker_client.containers.get(started.status.container_id).kill()

    service = get_service(unique_name, registry=registry)
    assert service.status.state == ServiceState.ERROR
    assert service.status.exit_code == 137
    assert "SIGKILL" in service.status.last_error
    stored = get_service(unique_name, registry=registry, refresh=False)
    assert stored.status.state == ServiceState.ERROR  # what a later reader sees


def test_restart_policy_brings_a_crashed_server_back(
    base_image: str, registry: Any, unique_name: str
) -> None:
    crash_after_one_request = textwrap.dedent("""
        import http.server, os, sys
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/crash":
                    os._exit(3)
                self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        http.server.HTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
    """)
    service = ContainerService.http(unique_name, base_image,
                                    ["python3", "-c", crash_after_one_request, "{port}"],
                                    restart=RestartPolicy(mode="always"))
    started = start_service(service, registry=registry, timeout=60)
    with pytest.raises(OSError):  # the server dies before answering
        http_get((started.endpoint.status.uri or "") + "/crash")

    wait_for(lambda: answers(started.endpoint.status.uri or ""))  # Docker restarted it
    restarted = get_service(unique_name, registry=registry)
    assert restarted.status.state == ServiceState.ACTIVE
    assert restarted.status.restart_count == 1


def test_on_failure_restarts_are_bounded_then_start_fails_with_exit_code_and_logs(
    base_image: str, registry: Any, unique_name: str
) -> None:
    service = ContainerService.http(
        unique_name, base_image, ["sh", "-c", "echo attempt; sleep 0.2; exit 3"],
        restart=RestartPolicy(mode="on-failure", max_restarts=2),
    )
    with pytest.raises(ServiceFailedError) as failure:
        start_service(service, registry=registry, timeout=30)

    assert failure.value.exit_code == 3
    assert failure.value.log_tail.count("attempt") == 3  # the first run and two restarts
    final = get_service(unique_name, registry=registry)
    assert final.status.state == ServiceState.ERROR
    assert final.status.restart_count == 2


def test_stop_and_delete_leave_no_container(
    base_image: str, registry: Any, unique_name: str, docker_client: Any
) -> None:
    started = start_service(web(unique_name, base_image), registry=registry, timeout=60)
    stop_service(started, registry=registry)
    assert containers_of(docker_client, started) == []
    assert get_service(unique_name, registry=registry).status.state == ServiceState.INACTIVE

    again = start_service(web(unique_name, base_image), registry=registry, timeout=60)
    delete_service(unique_name, registry=registry)
    assert containers_of(docker_client, again) == []
    assert registry.find(name=unique_name) == []


def test_two_services_started_at_once_get_two_ports(
    base_image: str, registry: Any, unique_name: str
) -> None:
    results: dict[str, Any] = {}

    def start(name: str) -> None:
        results[name] = start_service(web(name, base_image), registry=registry, timeout=60)

    threads = [threading.Thread(target=start, args=(f"{unique_name}-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ports = {service.endpoint.status.port for service in results.values()}
    assert len(ports) == 2
    assert all(http_get(s.endpoint.status.uri or "")[0] == 200 for s in results.values())


def test_missing_image_is_a_clear_error_and_no_record_claims_it_runs(
    base_image: str, registry: Any, unique_name: str, docker_client: Any
) -> None:
    service = web(unique_name, "outlive-does-not-exist:1.0")
    with pytest.raises(ContainerEngineError, match=re.escape("outlive-does-not-exist:1.0")):
        start_service(service, registry=registry, timeout=30)

    record = get_service(unique_name, registry=registry)
    assert record.status.state != ServiceState.ACTIVE
    assert record.admin_state == ServiceState.INACTIVE
    assert containers_of(docker_client, record) == []


def test_a_foreign_container_holding_the_name_is_a_clear_error(
    base_image: str, registry: Any, unique_name: str, docker_client: Any
) -> None:
    foreign = docker_client.containers.create(base_image, ["sleep", "60"],
                                              name=f"outlive-{unique_name}")
    try:
        with pytest.raises(ContainerEngineError, match="already exists"):
            start_service(web(unique_name, base_image), registry=registry, timeout=30)
        foreign.reload()  # still there: never remove someone else's container
        assert get_service(unique_name, registry=registry).status.state != ServiceState.ACTIVE
    finally:
        foreign.remove(force=True)


def test_update_replaces_the_container_with_the_new_config(
    base_image: str, registry: Any, unique_name: str, docker_client: Any
) -> None:
    started = start_service(web(unique_name, base_image), registry=registry, timeout=60)
    new_config = started.config.model_copy(update={"environment": {"GREETING": "v2"}})

    updated = update_service(unique_name, new_config, registry=registry, timeout=60)

    assert updated.status.state == ServiceState.ACTIVE
    assert updated.status.container_id != started.status.container_id
    [container] = containers_of(docker_client, updated)
    assert "GREETING=v2" in container.attrs["Config"]["Env"]
    assert http_get(updated.endpoint.status.uri or "")[0] == 200


def test_a_yaml_definition_starts_a_container(
    base_image: str, registry: Any, unique_name: str
) -> None:
    definition = textwrap.dedent(f"""
        type: container
        config:
          name: {unique_name}
          image: {base_image}
          command: [python3, -m, http.server, "{{port}}"]
        endpoint:
          health: /
    """)
    started = start_service(load_service(definition), registry=registry, timeout=60)

    assert isinstance(started, ContainerService)
    assert http_get(started.endpoint.status.uri or "")[0] == 200
