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
from tests.ray.cluster import free_port


@pytest.mark.parametrize(("config", "fragment"), [
    ({"import_path": "model_app"}, "import_path 'model_app' must be 'module:attribute'"),
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
