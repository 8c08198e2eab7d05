"""The typed definition of a Ray Serve service: its config, status and endpoint.

Kept apart from :mod:`plugin_core.backends.ray_serve` (the behaviour) so each stays small;
users import all of it from ``plugin_core``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plugin_core.backends._serve_api import default_address
from plugin_core.model.config import ServiceConfig
from plugin_core.model.duck_serialized import DuckSerialized
from plugin_core.model.endpoint import (
    BaseServiceEndpoint,
    ServiceEndpointConfig,
    ServiceEndpointProtocol,
    ServiceEndpointStatus,
)
from plugin_core.model.status import ServiceStatus

_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*[:.][A-Za-z_]\w*")  # fullmatch: "$" would pass a trailing "\n"


class RayActorOptions(BaseModel):
    """Resources each replica reserves. Serve's default is one whole CPU per replica: use a
    fraction (``num_cpus=0.25``) to pack small models."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_cpus: float | None = Field(default=None, ge=0)
    num_gpus: float | None = Field(default=None, ge=0)
    memory: int | None = Field(default=None, ge=0)
    resources: dict[str, float] = Field(default_factory=dict)

    def to_serve(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude_defaults=True)


class RayServeServiceConfig(ServiceConfig):
    """One Serve application: what to import, the code and environment to ship, how to scale.

    ``deployment`` names the deployment that ``num_replicas``, ``ray_actor_options`` and the
    health-check timing apply to (Serve's config overrides deployments by name: the class
    name, unless ``@serve.deployment(name=...)`` says otherwise). ``working_dir`` is a local
    directory, zipped and uploaded to the cluster under a hash of its content. ``route_prefix``
    defaults to ``/<service_name>``.
    """

    import_path: str
    address: str = Field(default_factory=default_address)
    route_prefix: str = ""
    deployment: str = ""
    num_replicas: int | None = Field(default=None, ge=0)
    ray_actor_options: RayActorOptions | None = None
    health_check_period_s: float | None = Field(default=None, gt=0)
    health_check_timeout_s: float | None = Field(default=None, gt=0)
    working_dir: str | None = None
    pip: list[str] = Field(default_factory=list)
    env_vars: dict[str, str] = Field(default_factory=dict)
    prediction_path: str = ""
    stop_grace_period: float = Field(default=30.0, ge=0, le=3600)

    @field_validator("env_vars")
    @classmethod
    def _usable_environment(cls, values: dict[str, str]) -> dict[str, str]:
        from plugin_core.model.environment import check_environment

        return check_environment(values)

    @field_validator("import_path")
    @classmethod
    def _import_path_form(cls, value: str) -> str:
        if not _IMPORT_PATH.fullmatch(value):
            raise ValueError(
                f"import_path {value!r} must be 'module:attribute' (or 'module.attribute'), "
                "naming a bound Serve application, e.g. 'model_app:app'"
            )
        return value

    @field_validator("address")
    @classmethod
    def _http_address(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                f"address {value!r} must be the Ray dashboard's URL, e.g. http://head:8265 "
                "(not the GCS address host:6379 nor ray://)"
            )
        return value.rstrip("/")

    @field_validator("route_prefix")
    @classmethod
    def _route_form(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError(f"route_prefix {value!r} must start with '/', e.g. '/my-model'")
        return value

    @field_validator("working_dir")
    @classmethod
    def _existing_dir(cls, value: str | None) -> str | None:
        if value is None:
            return None
        path = Path(value).expanduser()
        if not path.is_absolute() or not path.is_dir():
            raise ValueError(
                f"working_dir {value!r} must be an absolute path to an existing local "
                "directory: outlive zips and uploads it to the cluster"
            )
        return str(path)

    @model_validator(mode="after")
    def _deployment_named_for_overrides(self) -> RayServeServiceConfig:
        if not self.route_prefix:
            object.__setattr__(self, "route_prefix", f"/{self.service_name}")
        overrides = [name for name in ("num_replicas", "ray_actor_options",
                                       "health_check_period_s", "health_check_timeout_s")
                     if getattr(self, name) is not None]
        if overrides and not self.deployment:
            raise ValueError(
                f"{', '.join(overrides)} apply to one deployment of the app: set `deployment` "
                "to its name (the class name, unless @serve.deployment(name=...) sets one)"
            )
        return self


class RayServeServiceStatus(ServiceStatus):
    """What Serve last said: its status and message, and where the replicas run."""

    serve_status: str | None = None
    serve_message: str = ""
    replica_states: dict[str, int] = Field(default_factory=dict)
    replica_nodes: list[str] = Field(default_factory=list)
    target_replicas: int = 0
    dead_replicas: int = 0
    package_uri: str | None = None


class RayServeEndpoint(BaseServiceEndpoint):
    """Serve's HTTP proxy: the host of the dashboard URL and the port of Serve's http_options
    (``config.port`` overrides it, e.g. behind a load balancer). The route prefix is part of
    the monitor's path."""

    config: DuckSerialized[ServiceEndpointConfig] = Field(
        default_factory=lambda: ServiceEndpointConfig(protocol=ServiceEndpointProtocol.HTTP)
    )
    status: DuckSerialized[ServiceEndpointStatus] = Field(default_factory=ServiceEndpointStatus)

    def place(self, address: str, http_options: dict[str, Any]) -> None:
        """Point the endpoint at the proxy, from the dashboard URL and Serve's http_options."""
        from urllib.parse import urlsplit

        self.status.protocol = self.config.protocol
        self.status.hostname = urlsplit(address).hostname
        self.status.port = self.config.port or http_options.get("port")
