"""Kubernetes on paper: a service definition rendered as a Deployment and a Service.

No cluster client: no Kubernetes API server can run where outlive is developed, so this module
only renders manifests (plain dicts, ready for ``yaml.safe_dump_all``) and the tests validate
them against the Kubernetes schemas. The mapping (``docs/kubernetes.md``):

* the container: a :class:`ContainerService`'s image, entrypoint, command, environment, working
  dir and CPU/memory limits; a :class:`CommandService`'s command and env, in the ``image`` given
  (the image must hold the program). ``{port}`` and ``{host}`` are filled with the container
  port and ``0.0.0.0``; secrets are never rendered: reference a Secret yourself;
* the endpoint becomes a named container port and a ClusterIP Service in front of it;
* the probe policy becomes three probes on the monitor's check (HTTP GET path or TCP port): a
  startup probe whose budget is ``startup_timeout``, a readiness probe with the policy's
  ``period``, ``timeout`` and ``success_threshold``, and a liveness probe with its
  ``failure_threshold``, the same split of start-up and liveness that :mod:`plugin_core.health`
  makes;
* the service's labels (identity fields and user labels, as in the registry) become
  ``outlive.io/<key>`` labels, with ``app.kubernetes.io/name`` and ``managed-by`` beside them.
"""

from __future__ import annotations

import math
import re
from typing import Any

from plugin_core.errors import ConfigError
from plugin_core.model.probe_policy import ProbePolicy
from plugin_core.model.standard_monitors import HTTPEndpointHealthMonitor, TCPEndpointHealthMonitor
from plugin_core.service import BaseService

DEFAULT_PORT = 8000
PORT_NAME = "http"
_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_BAD = re.compile(r"[^a-z0-9-]+")


def render_manifests(
    service: BaseService, *, image: str | None = None, namespace: str = "default",
    replicas: int = 1,
) -> list[dict[str, Any]]:
    """A Deployment and (when the service has an endpoint) a Service for ``service``."""
    from plugin_core.backends.command import CommandService
    from plugin_core.backends.container import ContainerService

    name = dns_name(service.config.service_name)
    port = _container_port(service)
    if isinstance(service, ContainerService):
        container = _from_container(service, image, port)
    elif isinstance(service, CommandService):
        container = _from_command(service, image, port)
    else:
        raise ConfigError(
            f"Service {service.config.service_name!r}: {type(service).__name__} has no "
            "Kubernetes mapping; render a ContainerService or a CommandService (with `image`)"
        )
    container["name"] = name
    if service.endpoint is not None:
        container["ports"] = [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}]
        container.update(probes(service, port))
    labels = kubernetes_labels(service)
    selector = {"app.kubernetes.io/name": name, "outlive.io/service-uuid": str(service.uuid)}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }
    manifests: list[dict[str, Any]] = [deployment]
    if service.endpoint is not None:
        manifests.append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"type": "ClusterIP", "selector": selector, "ports": [
                {"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP"},
            ]},
        })
    return manifests


def probes(service: BaseService, port: int) -> dict[str, Any]:
    """startupProbe, readinessProbe and livenessProbe from the monitor and its probe policy."""
    assert service.endpoint is not None
    monitor = service.endpoint.monitor
    check: dict[str, Any]
    if isinstance(monitor, HTTPEndpointHealthMonitor):
        path = monitor.config.healthcheck_uri_path or "/"
        check = {"httpGet": {"path": path if path.startswith("/") else "/" + path,
                             "port": PORT_NAME}}
    elif isinstance(monitor, TCPEndpointHealthMonitor) or monitor is None:
        check = {"tcpSocket": {"port": PORT_NAME}}
    else:
        raise ConfigError(
            f"Service {service.config.service_name!r}: the monitor {type(monitor).__name__} "
            "has no Kubernetes probe; use an HTTP or TCP monitor"
        )
    policy: ProbePolicy = service.probe_policy
    period = max(1, math.ceil(policy.period))
    timing = {"periodSeconds": period, "timeoutSeconds": max(1, math.ceil(policy.timeout))}
    return {
        "startupProbe": {**check, **timing, "failureThreshold":
                         max(1, math.ceil(policy.startup_timeout / period))},
        "readinessProbe": {**check, **timing, "successThreshold": policy.success_threshold,
                           "failureThreshold": policy.failure_threshold},
        "livenessProbe": {**check, **timing, "failureThreshold": policy.failure_threshold},
    }


def kubernetes_labels(service: BaseService) -> dict[str, str]:
    """The registry's labels of the service as valid Kubernetes labels."""
    labels = {
        "app.kubernetes.io/name": dns_name(service.config.service_name),
        "app.kubernetes.io/managed-by": "outlive",
        "outlive.io/service-uuid": str(service.uuid),
    }
    for key, value in service.config.get_service_labels().items():
        labels[f"outlive.io/{dns_name(key)}"] = label_value(value)
    return labels


def dns_name(text: str) -> str:
    """A DNS-1123 label (lowercase letters, digits, '-', at most 63) made from ``text``."""
    name = _NAME_BAD.sub("-", text.lower()).strip("-")[:63].strip("-")
    return name or "service"


def label_value(text: str) -> str:
    """A label value: at most 63 of ``[A-Za-z0-9._-]``, starting and ending alphanumeric."""
    value = _LABEL_VALUE_BAD.sub("-", text)[:63]
    return value.strip("._-")


def _container_port(service: BaseService) -> int:
    endpoint = service.endpoint
    if endpoint is None:
        return DEFAULT_PORT
    from plugin_core.backends.container import ContainerServiceEndpointConfig

    config = endpoint.config
    inside = config.container_port if isinstance(config, ContainerServiceEndpointConfig) else None
    return int(inside or config.port or DEFAULT_PORT)


def _fill(text: str, port: int) -> str:
    return text.replace("{port}", str(port)).replace("{host}", "0.0.0.0")


def _env(values: dict[str, str], port: int) -> list[dict[str, str]]:
    return [{"name": key, "value": _fill(value, port)} for key, value in sorted(values.items())]


def _from_container(service: Any, image: str | None, port: int) -> dict[str, Any]:
    config = service.config
    chosen = image or config.image
    if not chosen:
        raise ConfigError(
            f"Service {config.service_name!r}: no image to render; set `image` on the "
            "service or pass image=... (a subclass's run() needs the outlive runtime image)"
        )
    container: dict[str, Any] = {"image": chosen, "env": _env(config.environment, port)}
    if config.entrypoint:
        container["command"] = [_fill(part, port) for part in config.entrypoint]
    if config.command:
        container["args"] = [_fill(part, port) for part in config.command]
    if config.working_dir:
        container["workingDir"] = config.working_dir
    limits: dict[str, str] = {}
    if config.cpus:
        limits["cpu"] = f"{math.ceil(config.cpus * 1000)}m"
    if config.mem_limit:
        limits["memory"] = _quantity(config.mem_limit)
    if limits:
        container["resources"] = {"limits": limits, "requests": dict(limits)}
    return container


def _from_command(service: Any, image: str | None, port: int) -> dict[str, Any]:
    if not image:
        raise ConfigError(
            f"Service {service.config.service_name!r}: a CommandService runs a program, not an "
            "image: pass image=... naming an image that holds it"
        )
    container: dict[str, Any] = {
        "image": image, "command": [_fill(part, port) for part in service.config.command],
        "env": _env(service.config.env, port),
    }
    if service.config.cwd:
        container["workingDir"] = service.config.cwd
    return container


def _quantity(docker_size: str) -> str:
    """Docker's ``512m`` / ``2g`` as Kubernetes' ``512Mi`` / ``2Gi``."""
    match = re.fullmatch(r"(\d+)([bkmg]?)", docker_size.strip().lower())
    if match is None:
        raise ConfigError(f"mem_limit {docker_size!r} must look like '512m' or '2g'")
    number, unit = match.groups()
    return number + {"": "", "b": "", "k": "Ki", "m": "Mi", "g": "Gi"}[unit]
