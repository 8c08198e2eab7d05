"""Bad Ray Serve definitions and an unreachable cluster fail with a message naming the field
or the address and the fix (no cluster needed)."""

from __future__ import annotations

import pytest

from plugin_core import (
    ConfigError,
    RayClusterError,
    RayServeService,
    ServiceState,
    load_service,
    start_service,
)
from plugin_core.backends.ray_serve import SERVE_READ_GAP, UUID_ENV, RayServeEndpoint
from plugin_core.model.monitors import ProbeResult
from plugin_core.model.probe_policy import ProbePolicy
from plugin_core.model.standard_monitors import (
    HTTPEndpointHealthMonitor,
    HTTPEndpointHealthMonitorConfig,
)
from tests.ray.cluster import free_port


@pytest.mark.parametrize(("config", "fragment"), [
    ({"import_path": "model_app"}, "import_path 'model_app' must be 'module:attribute'"),
    ({"import_path": "m:app\n"}, "import_path 'm:app\\n' must be 'module:attribute'"),
    ({"import_path": "m:app", "env_vars": {"A=B": "1"}}, "config.env_vars: variable name 'A=B'"),
    ({"import_path": "m:app", "address": "127.0.0.1:6379"}, "must be the Ray dashboard's URL"),
    ({"import_path": "m:app", "route_prefix": "model"}, "route_prefix 'model' must start with '/'"),
    ({"import_path": "m:app", "working_dir": "relative/dir"}, "working_dir 'relative/dir' must be an absolute path"),
    ({"import_path": "m:app", "num_replicas": 3}, "num_replicas apply to one deployment of the app: set `deployment`"),
])
def test_bad_definitions_name_the_field(config: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_service({"type": "ray-serve", "config": {"name": "m", **config}})
    assert fragment in str(error.value)


def test_the_address_defaults_like_rays_own_clis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_DASHBOARD_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")  # a GCS address: not the dashboard
    assert RayServeService.http("m", "m:app").config.address == "http://127.0.0.1:8265"
    monkeypatch.setenv("RAY_ADDRESS", "http://head:8265/")
    assert RayServeService.http("m", "m:app").config.address == "http://head:8265"
    monkeypatch.setenv("RAY_DASHBOARD_ADDRESS", "https://ray.example")
    service = RayServeService.http("m", "m:app", health_path="healthz")
    assert service.config.address == "https://ray.example"
    assert service.config.route_prefix == "/m"
    assert service.get_healthcheck_url() is None  # no proxy address before the first start


def test_an_unreachable_cluster_says_where_and_how_to_fix() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RayClusterError) as error:
        start_service(RayServeService.http("m", "m:app", address=address), timeout=5)
    message = str(error.value)
    assert f"the Ray dashboard at {address} does not answer" in message
    assert "RAY_DASHBOARD_ADDRESS" in message
    from plugin_core import get_service

    assert get_service("m", refresh=False).status.state == ServiceState.ERROR


class _CountingServe:
    """Serve's status API as seen by the backend: a DEPLOYING (or RUNNING) app, reads counted."""

    def __init__(self, service: RayServeService) -> None:
        self.reads = 0
        self.status_now = "DEPLOYING"
        self.config = {"runtime_env": {"env_vars": {UUID_ENV: str(service.uuid)}}}

    def status(self, timeout: float | None = None) -> dict[str, object]:
        self.reads += 1
        app = {"status": self.status_now, "deployed_app_config": self.config, "deployments": {}}
        return {"applications": {"m": app}, "http_options": {"host": "127.0.0.1", "port": 8000}}


def test_a_deploy_reads_serves_status_sparingly_until_the_route_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While Serve says DEPLOYING, a look within SERVE_READ_GAP of the last read is the route's
    probe alone; the route answering, or the gap passing, brings a fresh read at once."""
    service = RayServeService.http("m", "m:app")
    service.admin_state = ServiceState.ACTIVE
    serve = _CountingServe(service)
    monkeypatch.setattr(RayServeService, "api", lambda self: serve)
    route_answers = [False]
    probes: list[float | None] = []

    def probe(self: object, timeout: float | None = None) -> ProbeResult:
        probes.append(timeout)
        return ProbeResult(ok=route_answers[0], detail="probe")

    monkeypatch.setattr(type(service.endpoint), "probe", probe)
    now = [1000.0]
    monkeypatch.setattr("plugin_core.backends.ray_serve.time.monotonic", lambda: now[0])

    assert service.check_status()[0] == ServiceState.PENDING_STARTUP
    for _ in range(5):  # 20 ms apart, the route silent: no read
        now[0] += 0.02
        assert service.check_status()[0] == ServiceState.PENDING_STARTUP
    assert (serve.reads, len(probes)) == (1, 5)
    now[0] += SERVE_READ_GAP  # the gap passed: Serve is read again (a failure shows in time)
    service.check_status()
    assert serve.reads == 2
    serve.status_now = "RUNNING"
    route_answers[0] = True  # the route answers: read at once, and Serve's verdict stands
    now[0] += 0.02
    assert service.check_status()[0] == ServiceState.ACTIVE
    assert serve.reads == 3
    now[0] += 0.02  # RUNNING: every look reads Serve, as for a service that is up
    service.check_status()
    assert serve.reads == 4


def test_an_app_is_looked_at_every_20_ms_at_first_unless_its_policy_says_otherwise() -> None:
    """20 ms between looks for the first 10 s, whether the app comes from http() or from a
    definition's ``endpoint.health`` (what blocks and operators build); a probe policy that
    was given is kept, and a stored service loads with the policy it was saved with."""
    from_code = RayServeService.http("m", "m:app")
    from_definition = load_service({
        "type": "ray-serve", "config": {"name": "m", "import_path": "m:app"},
        "endpoint": {"protocol": "http", "health": "/m/"},
    })
    for service in (from_code, from_definition):
        policy = service.probe_policy
        assert (policy.initial_interval, policy.fast_phase) == (0.02, 10.0)
    assert RayServeService.from_json(from_code.to_json()).probe_policy == from_code.probe_policy

    theirs = HTTPEndpointHealthMonitor(
        config=HTTPEndpointHealthMonitorConfig(healthcheck_uri_path="/m/")
    )
    service = RayServeService(config=from_code.config, endpoint=RayServeEndpoint(monitor=theirs))
    assert service.probe_policy.fast_phase == 10.0
    assert theirs.policy == ProbePolicy()  # the caller's monitor is left as it was

    given = ProbePolicy(period=2.0)
    chosen = RayServeService.http("m", "m:app")
    assert chosen.endpoint is not None and chosen.endpoint.monitor is not None
    chosen.endpoint.monitor.config = HTTPEndpointHealthMonitorConfig(
        healthcheck_uri_path="/m/", probe=given
    )
    reloaded = RayServeService.from_json(chosen.to_json())
    assert reloaded.probe_policy == given
