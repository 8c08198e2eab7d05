"""Kubernetes on paper: rendered manifests are valid against the Kubernetes schemas (strict),
and carry the service's probes, labels and container settings."""

from __future__ import annotations

import kubernetes_validate  # a test dependency: missing means failing, never skipping
import pytest
import yaml

from plugin_core import (
    CommandService,
    ConfigError,
    ContainerService,
    HTTPEndpointHealthMonitor,
    ProbePolicy,
)
from plugin_core.kubernetes import render_manifests

K8S_VERSION = "1.37.0"


def _validate_all(manifests: list[dict[str, object]]) -> None:
    # Through YAML and back, as `kubectl apply -f` would read them.
    for document in yaml.safe_load_all(yaml.safe_dump_all(manifests)):
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def test_a_container_service_renders_a_valid_deployment_and_service() -> None:
    service = ContainerService.http(
        "Model_Server.v2", "registry.example/model:1.4", "serve --port {port} --host {host}",
        container_port=9000, health_path="/healthz", environment={"MODEL": "m", "URL": "http://{host}:{port}"},
        cpus=0.5, mem_limit="512m", labels={"team": "ml platform"}, pipeline_name="train",
    )
    manifests = render_manifests(service, namespace="models", replicas=2)
    _validate_all(manifests)
    deployment, svc = manifests
    assert deployment["metadata"]["name"] == "model-server-v2"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["serve", "--port", "9000", "--host", "0.0.0.0"]
    assert {"name": "URL", "value": "http://0.0.0.0:9000"} in container["env"]
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["outlive.io/team"] == "ml-platform"
    assert labels["outlive.io/pipeline-name"] == "train"
    assert labels["outlive.io/service-uuid"] == str(service.uuid)
    assert svc["spec"]["ports"][0]["port"] == 9000
    assert svc["spec"]["selector"].items() <= labels.items()


def test_the_probe_policy_becomes_startup_readiness_and_liveness() -> None:
    service = CommandService.http("echo", "python -m http.server {port}", port=8080,
                                  health_path="ready")
    assert service.endpoint is not None and isinstance(service.endpoint.monitor, HTTPEndpointHealthMonitor)
    service.endpoint.monitor.config.probe = ProbePolicy(
        period=5, timeout=2, failure_threshold=4, success_threshold=2, startup_timeout=120,
        initial_interval=0.5,
    )
    manifests = render_manifests(service, image="python:3.12-slim")
    _validate_all(manifests)
    container = manifests[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "http.server", "8080"]
    assert container["startupProbe"]["failureThreshold"] == 24  # 120 s at one probe per 5 s
    assert container["readinessProbe"]["successThreshold"] == 2
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5, "timeoutSeconds": 2,
        "failureThreshold": 4,
    }


def test_what_cannot_be_rendered_says_why() -> None:
    with pytest.raises(ConfigError, match="pass image="):
        render_manifests(CommandService.http("echo", "python -m http.server {port}"))
    with pytest.raises(ConfigError, match="image"):
        render_manifests(ContainerService.http("bare"))
    with pytest.raises(kubernetes_validate.ValidationError):
        broken = render_manifests(ContainerService.http("x", "img"))
        broken[0]["spec"]["replicas"] = "two"
        _validate_all(broken)
