"""Prefect blocks: service definitions and the registry connection, stored in Prefect.

A block holds configuration only and turns into a ``plugin_core`` object with
one call (``get_service()`` / ``get_registry()``); tasks do the rest. Each
service block writes a plain definition (``definition()``) and hands it to
``plugin_core.load_service``, so the core alone decides what a valid service
is, and a bad field surfaces as a validation error of the block, naming it,
when the block is created or loaded.

``plugin_core`` loads its modules on first use, so importing this module costs
no SQLAlchemy, psutil or docker import: a Prefect server imports every
collection, and flows import this at parse time.
"""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# evaluates every annotation of a model and of each of its bases again for every Block subclass,
# compiling each string each time. Names imported for type checkers only are quoted.

import re
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Literal

from prefect.blocks.core import Block
from prefect.types import SecretDict
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

import plugin_core as core
from prefect_ext._compat import SlugDispatchKey

if TYPE_CHECKING:
    from plugin_core import BaseService, ServiceRegistry

__all__ = [
    "CommandServiceBlock",
    "ContainerServiceBlock",
    "DockerHostBlock",
    "DockerRegistryCredentialsBlock",
    "LocalDaemonServiceBlock",
    "ServiceBlock",
    "ServiceRegistryBlock",
]

# The blocks set no `_logo_url` / `_documentation_url`: the project has no published home, and
# a catalogue link that does not resolve is worse than none. The README's "Orchestrators"
# section documents them; each block's docstring (shown in the UI) says what it is for.

Protocol = Literal["http", "https", "tcp"]
RestartMode = Literal["never", "on-failure", "always"]

# Every model here builds its validator on first use, not at import (~4 ms of every `import
# prefect_ext`): a flow uses one or two of the six blocks, a worker imports them all for none,
# and the mixins are never validated on their own. Creating, loading and registering a block
# build it then, as they validate it or read its schema.
_BUILT_ON_FIRST_USE = ConfigDict(defer_build=True)

_DOTTED_PATH = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+")  # fullmatch: "$" would pass a trailing "\n"
# A scheme, spelt in ASCII of either case: classes, not re.IGNORECASE, whose case tables cost
# ~1.1 ms to compile on every `import prefect_ext` (and which also let "K", the Kelvin sign, in).
_SQLALCHEMY_URL = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\+[A-Za-z0-9_]+)?://")


class ServiceBlock(BaseModel, ABC):
    """What every service block has: a registry name, labels, and a way to become a service.

    A pydantic mixin rather than a ``Block`` interface: a Prefect server registers every
    ``Block`` subclass it has imported as a block type, and this is not one a user fills in.
    Tasks accept any ``ServiceBlock``.
    """

    model_config = _BUILT_ON_FIRST_USE

    service_name: str = Field(
        description="Unique name in the outlive registry; starting it again reuses the running "
        "service instead of starting a second copy.",
        examples=["iris-model-server"],
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels to find the service by (`find_services`)."
    )
    model_name: str = Field(default="", description="Name of the model served, if any.")
    model_version: str = Field(default="", description="Version of the model served, if any.")
    prediction_path: str = Field(
        default="", description="Path of the prediction route, e.g. `/predict` (for its URL)."
    )

    @abstractmethod
    def definition(self) -> dict[str, Any]:
        """The service as a plain ``plugin_core.load_service`` definition (``type``, ``config``, ...)."""

    def get_service(self) -> "BaseService":
        """The core service this block defines (not started; pass it to ``start_service``)."""
        return core.load_service(self.definition())

    def _base_config(self) -> dict[str, Any]:
        return {
            "name": self.service_name,
            "labels": dict(self.labels),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "prediction_path": self.prediction_path,
        }

    def _validated_by_core(self) -> None:
        """Raise ``ValueError`` (a pydantic validation error of the block) if the core refuses."""
        try:
            self.get_service()
        except core.ConfigError as exc:
            raise ValueError(str(exc)) from None


class _EndpointFields(BaseModel):
    """Where a local service listens and how its health is checked (shared by two blocks).

    A plain pydantic mixin, not a ``Block``: every Block subclass becomes a block type on
    the server, and this is no block of its own.
    """

    model_config = _BUILT_ON_FIRST_USE

    protocol: Protocol | None = Field(
        default="http", description="What the service speaks; empty for a service with no port."
    )
    host: str = Field(default="127.0.0.1", description="Address to listen on (`{host}`).")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Preferred port (`{port}`); empty: any free port."
    )
    allocate_port: bool = Field(
        default=True, description="Take another free port when the preferred one is busy."
    )
    health_path: str = Field(
        default="/", description="HTTP path that answers 200 when the service is healthy."
    )

    def _endpoint(self) -> dict[str, Any] | None:
        if self.protocol is None:
            return None
        endpoint: dict[str, Any] = {
            "protocol": self.protocol,
            "ip_address": self.host,
            "port": self.port,
            "allocate_port": self.allocate_port,
        }
        if self.protocol == "tcp":
            endpoint["monitor"] = {"type": "tcp", "config": {}}
        else:
            endpoint["health"] = self.health_path
        return endpoint


class _ProcessFields(BaseModel):
    """The environment and restart policy of a service that outlive runs as a local process."""

    model_config = _BUILT_ON_FIRST_USE

    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables (`{port}` is filled in)."
    )
    secret_env: SecretDict = Field(
        default_factory=lambda: SecretDict({}),
        description="Environment variables kept secret (API keys, passwords): hidden in "
        "Prefect, never written to the outlive registry or runtime files.",
    )
    restart: RestartMode = Field(default="never", description="When to restart it after it exits.")
    max_restarts: int | None = Field(default=5, ge=0, description="Give up after this many.")

    def _process_config(self) -> dict[str, Any]:
        """These fields as service config (secrets in plain text for the core, which keeps
        them out of the registry and runtime files)."""
        return {
            "env": dict(self.env),
            "secret_env": _plain(self.secret_env),
            "restart": {"mode": self.restart, "max_restarts": self.max_restarts},
        }


class CommandServiceBlock(SlugDispatchKey, _ProcessFields, _EndpointFields, ServiceBlock, Block):
    """Any program run as a detached service that outlives the flow run.

    ``{port}`` and ``{host}`` in the command, env values and cwd are filled with
    the address outlive assigns. The service runs in its own session with no
    inherited pipes, in ``cwd`` or its private runtime directory, never in the
    flow run's temporary directory.
    """

    _block_type_name = "Outlive Command Service"
    _description = (
        "A program (model server, API, database) started by outlive as a service that keeps "
        "running after the flow run ends."
    )

    command: list[str] = Field(
        min_length=1,
        description="The program and its arguments; `{port}` and `{host}` are filled in.",
        examples=[["python", "-m", "http.server", "{port}", "--bind", "{host}"]],
    )
    cwd: str | None = Field(default=None, description="Absolute working directory.")

    def definition(self) -> dict[str, Any]:
        """A ``command`` service definition for ``plugin_core.load_service``."""
        config = self._base_config() | self._process_config() | {
            "command": list(self.command),
            "cwd": self.cwd,
        }
        return {"type": "command", "config": config, "endpoint": self._endpoint()}

    @model_validator(mode="after")
    def _check(self) -> "CommandServiceBlock":
        self._validated_by_core()
        return self


class LocalDaemonServiceBlock(SlugDispatchKey, _ProcessFields, _EndpointFields, ServiceBlock, Block):
    """A ``LocalDaemonService`` subclass (your ``run()``) run as a detached local process.

    The class is named by its import path and is imported only when the block
    becomes a service, so the block can be edited where that code is absent.
    """

    _block_type_name = "Outlive Local Daemon Service"
    _description = (
        "Your LocalDaemonService subclass, run by outlive as a detached local process that "
        "keeps running after the flow run ends."
    )

    service_class: str = Field(
        description="Import path of a LocalDaemonService subclass.",
        examples=["my_models.serving.IrisService"],
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Further fields of the subclass's config (JSON), next to the name.",
    )

    @field_validator("service_class")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if not _DOTTED_PATH.fullmatch(value):
            raise ValueError(
                f"service_class {value!r} must be an import path such as 'my_pkg.module.MyService'"
            )
        return value

    def definition(self) -> dict[str, Any]:
        """A definition of ``service_class`` for ``plugin_core.load_service``."""
        config = {**self.config, **self._base_config(), **self._process_config()}
        return {"type": self.service_class, "config": config, "endpoint": self._endpoint()}

    def get_service(self) -> "BaseService":
        """The service, after checking that ``service_class`` really is a local daemon."""
        service = super().get_service()
        if not isinstance(service, core.LocalDaemonService):
            raise core.ConfigError(
                f"service_class {self.service_class!r} is a {type(service).__name__}, not a "
                "LocalDaemonService subclass; use the Outlive Command or Container block for it"
            )
        return service


def _plain(secret: SecretDict) -> dict[str, str]:
    """A secret mapping's values as the strings a process environment holds."""
    return {str(key): str(value) for key, value in secret.get_secret_value().items()}


class DockerHostBlock(SlugDispatchKey, Block):
    """The Docker engine a container service runs on, like prefect-docker's ``DockerHost``.

    Empty ``base_url`` means what the docker CLI does: ``DOCKER_HOST``, else the local
    socket. TLS settings still come from ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``.
    """

    model_config = _BUILT_ON_FIRST_USE

    _block_type_name = "Outlive Docker Host"
    _description = "The Docker engine where outlive runs a container service."

    base_url: str | None = Field(
        default=None,
        title="Base URL",
        description="URL of the engine; empty: DOCKER_HOST or the local socket.",
        examples=["unix:///var/run/docker.sock", "tcp://10.0.0.5:2376"],
    )

    @field_validator("base_url")
    @classmethod
    def _engine_url(cls, value: str | None) -> str | None:
        if value and not re.match(r"^(unix|tcp|http|https|ssh|npipe)://", value):
            raise ValueError(
                f"base_url {value!r} must be an engine URL such as 'unix:///var/run/docker.sock' "
                "or 'tcp://host:2376'"
            )
        return value or None


class DockerRegistryCredentialsBlock(SlugDispatchKey, Block):
    """A login for a private image registry, like prefect-docker's ``DockerRegistryCredentials``.

    The password is used for the pull only: outlive never writes it to its registry or to
    the service's runtime files.
    """

    model_config = _BUILT_ON_FIRST_USE

    _block_type_name = "Outlive Docker Registry Credentials"
    _description = "Registry login used by outlive to pull a container service's image."

    username: str = Field(description="The user to log into the registry with.")
    password: SecretStr = Field(description="The password (or token) of that user.")
    registry_url: str = Field(
        default="",
        description="The registry's address; empty: Docker Hub.",
        examples=["registry.example.com:5000"],
    )

    def auth(self) -> dict[str, str]:
        """The core's ``registry_auth`` for a container definition."""
        return {
            "username": self.username,
            "password": self.password.get_secret_value(),
            "registry": self.registry_url,
        }


class ContainerServiceBlock(SlugDispatchKey, ServiceBlock, Block):
    """A Docker container run as a service; Docker keeps it running after the flow run.

    The engine is ``docker_host``, or as the docker CLI finds it (``DOCKER_HOST`` ...); a
    private image is pulled with ``registry_credentials``. Docker itself is imported only
    when the service starts, never by this block.
    """

    _block_type_name = "Outlive Container Service"
    _description = (
        "A Docker image run by outlive as a container service that keeps running after the "
        "flow run ends."
    )

    image: str = Field(min_length=1, description="Image to run.", examples=["redis:7"])
    command: list[str] | None = Field(
        default=None, description="Command; `{port}` and `{host}` are filled in."
    )
    environment: dict[str, str] = Field(default_factory=dict, description="Container env.")
    secret_environment: SecretDict = Field(
        default_factory=lambda: SecretDict({}),
        description="Container env kept secret (API keys, passwords): hidden in Prefect, never "
        "written to the outlive registry (the engine still holds it, as `docker inspect` shows).",
    )
    volumes: list[str] = Field(default_factory=list, description="`HOST:CONTAINER[:ro]` mounts.")
    protocol: Protocol = Field(default="http", description="What the service speaks.")
    container_port: int | None = Field(
        default=None, ge=1, le=65535, description="Port inside the container; empty: the host port."
    )
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Host port to publish on; empty: any free port."
    )
    health_path: str = Field(default="/", description="HTTP health path (HTTP only).")
    restart: RestartMode = Field(default="never", description="Docker restart policy.")
    pull: Literal["missing", "always", "never"] = Field(
        default="missing", description="When to pull the image."
    )
    docker_host: DockerHostBlock | None = Field(
        default=None, description="The engine to run on; empty: DOCKER_HOST or the local socket."
    )
    registry_credentials: DockerRegistryCredentialsBlock | None = Field(
        default=None, description="Login for pulling the image from a private registry."
    )

    def definition(self) -> dict[str, Any]:
        """A ``container`` service definition for ``plugin_core.load_service``."""
        config = self._base_config() | {
            "image": self.image,
            "command": self.command,
            "environment": dict(self.environment),
            "secret_environment": _plain(self.secret_environment),
            "volumes": list(self.volumes),
            "restart": {"mode": self.restart},
            "pull": self.pull,
            "docker_host": self.docker_host.base_url if self.docker_host else None,
        }
        if self.registry_credentials is not None:
            config["registry_auth"] = self.registry_credentials.auth()
        endpoint: dict[str, Any] = {
            "protocol": self.protocol,
            "port": self.port,
            "config": {"container_port": self.container_port},
        }
        if self.protocol == "tcp":
            endpoint["monitor"] = {"type": "tcp", "config": {}}
        else:
            endpoint["health"] = self.health_path
        return {"type": "container", "config": config, "endpoint": endpoint}

    @model_validator(mode="after")
    def _check(self) -> "ContainerServiceBlock":
        self._validated_by_core()
        return self


class ServiceRegistryBlock(SlugDispatchKey, Block):
    """Where outlive records services: a SQLAlchemy URL, kept as a secret.

    Empty means the core's default: ``OUTLIVE_REGISTRY_URL`` or the SQLite file
    in ``OUTLIVE_HOME``. A shared PostgreSQL URL carries a password, hence the
    secret field.
    """

    model_config = _BUILT_ON_FIRST_USE

    _block_type_name = "Outlive Service Registry"
    _description = (
        "The outlive service registry (SQLite file or a shared PostgreSQL database) where "
        "services started by flows are recorded and found again."
    )

    url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user:password@db/outlive; "
        "empty: the default local registry.",
    )

    @field_validator("url")
    @classmethod
    def _looks_like_sqlalchemy(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SQLALCHEMY_URL.match(value.get_secret_value()):
            raise ValueError(
                "url must be a SQLAlchemy URL such as 'sqlite:////abs/path/registry.db' or "
                "'postgresql+psycopg://user:password@host/db'"
            )
        return value

    def get_registry(self) -> "ServiceRegistry":
        """The core registry this block points at."""
        return core.ServiceRegistry(self.url.get_secret_value() if self.url else None)
