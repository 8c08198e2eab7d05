"""``ContainerService``: a service run in a Docker container, which outlives its starter by design.

Two ways to use it:

* any image and command (``redis``, ``nginx``, a model server image): set ``image`` and,
  if needed, ``command``; ``{port}`` and ``{host}`` in the command and environment are
  filled with the port and address the server must listen on inside the container;
* the ZenML way: subclass and implement :meth:`ContainerService.run`. The container then runs
  ``python -m plugin_core.backends._container_entrypoint``, which loads the service from the
  JSON in ``$OUTLIVE_SERVICE_JSON`` and calls ``run()``. The image must hold outlive
  (``scripts/docker_images.py`` builds one from the project's wheel); with a local engine the
  subclass's top-level package (or module file) is mounted read-only so that it is found,
  while outlive itself comes from the image.

The engine is reached through the docker SDK (the ``docker`` extra), imported lazily, and
configured as ``docker`` itself is: ``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``.
Every SDK and transport error becomes a :class:`ContainerEngineError` in :func:`engine_errors`,
the one place this module handles docker's exceptions. Containers carry the labels
``outlive.service-uuid`` and ``outlive.service-name``, so they can be found and cleaned up from
labels alone.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from plugin_core.backends import _docker_engine as engine
from plugin_core.backends._container_args import (
    RegistryAuth,
    check_definition,
    create_args,
    pull,
    read_back_ports,
)
from plugin_core.backends._docker_engine import LABEL_UUID, engine_errors
from plugin_core.backends.contract import bounded_grace
from plugin_core.backends.endpoints import http_endpoint_of
from plugin_core.backends.runtime_dir import DEFINITION_FILE, RuntimeFiles, saved_log_lines
from plugin_core.errors import ContainerEngineError
from plugin_core.model.config import ServiceConfig
from plugin_core.model.duck_serialized import DuckSerialized
from plugin_core.model.endpoint import (
    BaseServiceEndpoint,
    ServiceEndpointConfig,
    ServiceEndpointStatus,
)
from plugin_core.model.restart import RestartPolicy
from plugin_core.model.service_type import ServiceType
from plugin_core.model.state import ServiceState
from plugin_core.model.status import ServiceStatus
from plugin_core.paths import write_private
from plugin_core.ports import release_ports, reserve_port
from plugin_core.service import BaseService

__all__ = [
    "ContainerService",
    "ContainerServiceConfig",
    "ContainerServiceEndpoint",
    "ContainerServiceEndpointConfig",
    "ContainerServiceEndpointStatus",
    "ContainerServiceStatus",
    "RegistryAuth",
    "container_http_endpoint",
]

KEPT_LOG_LINES = 10_000


class ContainerServiceConfig(ServiceConfig):
    """What to run and how: image, command, environment, ports, volumes, restarts and limits.

    ``restart`` uses the core's :class:`RestartPolicy` modes, applied by Docker (``never`` ->
    ``no``, ``on-failure`` with ``max_restarts`` retries, ``always``); Docker applies its own
    backoff (100 ms, doubling). ``ports`` publishes extra container ports (container -> host
    port, None: any free one) next to the endpoint's. ``volumes`` use ``docker run -v`` syntax
    (``/host:/container[:ro]``). ``pull``: when the engine lacks the image, pull it
    (``missing``), always pull, or fail at once (``never``). ``docker_host`` names the engine
    (``unix:///run/docker.sock``, ``tcp://host:2376``) instead of ``DOCKER_HOST``; TLS still
    comes from ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``. ``registry_auth`` is excluded from
    every serialisation (see :class:`RegistryAuth`), as is ``secret_environment`` (added to the
    container's environment, never to a record).
    """

    image: str = ""
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    secret_environment: dict[str, SecretStr] = Field(default_factory=dict, exclude=True)
    ports: dict[int, int | None] = Field(default_factory=dict)
    volumes: list[str] = Field(default_factory=list)
    working_dir: str | None = None
    user: str | None = None
    root_runtime_path: str | None = None
    singleton: bool = False
    restart: RestartPolicy = Field(default_factory=RestartPolicy)
    mem_limit: str | None = None
    cpus: float | None = Field(default=None, gt=0)
    stop_grace_period: float = Field(default=10.0, ge=0, le=3600)
    pull: Literal["missing", "always", "never"] = "missing"
    docker_host: str | None = None
    registry_auth: RegistryAuth | None = Field(default=None, exclude=True)
    python_executable: str = "python"
    mount_code: bool = True
    prediction_path: str = ""

    @field_validator("command", "entrypoint", mode="before")
    @classmethod
    def _split_string(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @field_validator("environment", "secret_environment")
    @classmethod
    def _usable_environment(cls, values: dict[str, Any]) -> dict[str, Any]:
        from plugin_core.model.environment import check_environment

        return check_environment(values)

    @field_validator("volumes")
    @classmethod
    def _volume_syntax(cls, volumes: list[str]) -> list[str]:
        for volume in volumes:
            if volume.count(":") not in (1, 2):
                raise ValueError(
                    f"volume {volume!r} must be 'HOST:CONTAINER' or 'HOST:CONTAINER:ro'"
                )
        return volumes


class ContainerServiceStatus(ServiceStatus):
    """Where the service's files are and which container runs it, as the engine last said."""

    runtime_path: str | None = None
    container_id: str | None = None
    restart_count: int = 0
    health: str | None = None
    published_ports: dict[int, int] = Field(default_factory=dict)
    engine_id: str | None = None

    def reset_for_launch(self) -> None:
        """Also forget the last container's restarts, health and published ports."""
        super().reset_for_launch()
        self.restart_count = 0
        self.health = None
        self.published_ports = {}

    @property
    def config_file(self) -> str | None:
        """The service JSON, as the container was given it."""
        return os.path.join(self.runtime_path, DEFINITION_FILE) if self.runtime_path else None

    @property
    def log_file(self) -> str | None:
        """The last container's logs, saved when it is removed (live logs stay in the engine)."""
        return os.path.join(self.runtime_path, "service.log") if self.runtime_path else None


class ContainerServiceEndpointConfig(ServiceEndpointConfig):
    """The host address to publish on; ``container_port`` is where the server listens inside
    (None: the same number as the host port, passed in through ``{port}``)."""

    container_port: int | None = Field(default=None, ge=1, le=65535)


class ContainerServiceEndpointStatus(ServiceEndpointStatus):
    """The published address (``hostname``: the engine's host for a remote engine)."""

    container_port: int | None = None


class ContainerServiceEndpoint(BaseServiceEndpoint):
    """An endpoint published from a container port to a host port."""

    config: DuckSerialized[ContainerServiceEndpointConfig] = Field(
        default_factory=ContainerServiceEndpointConfig
    )
    status: DuckSerialized[ContainerServiceEndpointStatus] = Field(
        default_factory=ContainerServiceEndpointStatus
    )

    def prepare_for_start(
        self, owner: str = "", where: engine.EngineLocation | None = None
    ) -> None:
        """Choose the host port: reserved like a local daemon's (for ``owner``, the service's
        uuid) when the engine (``where``, default: the configured one) runs on this machine; on
        a remote engine the preferred port, or one the engine picks."""
        where = engine.location() if where is None else where
        owner = owner or "anonymous"
        publish_ip = where.publish_ip(self.config.ip_address)
        preferred = self.config.port or self.status.port
        port: int | None = preferred
        if where.on_this_machine:
            port = reserve_port(
                owner,
                host=publish_ip,
                preferred=preferred,
                allocate=self.config.allocate_port or self.config.port is None,
            )
        self.status.protocol = self.config.protocol
        self.status.hostname = where.hostname(publish_ip)
        self.status.port = port
        self.status.container_port = (
            self.config.container_port or port or engine.DEFAULT_CONTAINER_PORT
        )

    def port_bindings(self, where: engine.EngineLocation) -> dict[str, tuple[str, int | None]]:
        """The SDK's ``ports`` argument for this endpoint (host port None: the engine picks)."""
        host_ip = where.publish_ip(self.config.ip_address)
        return {f"{self.status.container_port}/tcp": (host_ip, self.status.port)}


class ContainerService(BaseService):
    """A service run in a Docker container: any image and command, or a subclass's ``run()``."""

    SERVICE_TYPE: ClassVar[ServiceType] = ServiceType(
        type="container", flavor="docker", name="Container", description="A Docker container"
    )

    config: DuckSerialized[ContainerServiceConfig] = Field(default_factory=ContainerServiceConfig)
    status: DuckSerialized[ContainerServiceStatus] = Field(
        default_factory=ContainerServiceStatus
    )
    endpoint: DuckSerialized[ContainerServiceEndpoint] | None = None

    @classmethod
    def http(
        cls,
        name: str,
        image: str = "",
        command: list[str] | str | None = None,
        *,
        port: int | None = None,
        container_port: int | None = None,
        health_path: str = "/",
        **config: Any,
    ) -> ContainerService:
        """An image served over HTTP with a health check on ``health_path``: the usual case.
        On a subclass (ZenML way) ``image`` may stay empty: the runtime image is used."""
        return cls(
            config=ContainerServiceConfig(name=name, image=image, command=command, **config),
            endpoint=container_http_endpoint(port, container_port=container_port,
                                             health_path=health_path),
        )

    def run(self) -> None:
        """The service's work, run inside the container (ZenML way); override it in a subclass."""
        raise NotImplementedError(f"{type(self).__name__} must implement run() or set an image")

    @property
    def runs_python(self) -> bool:
        """True for the ZenML way: a subclass that implements :meth:`run`."""
        return type(self).run is not ContainerService.run

    @property
    def container_name(self) -> str:
        """The container is named after the service, so ``docker ps`` tells what it is."""
        return f"outlive-{self.config.service_name}"

    @property
    def container_id(self) -> str:
        """The container's id as the engine last reported it, else its name (the engine takes
        either as a reference)."""
        return self.status.container_id or self.container_name

    @property
    def docker_client(self) -> Any:
        """The docker SDK ``DockerClient`` for the configured engine (one per process)."""
        engine.require_sdk(self.config.service_name, "connect to the Docker engine")
        host = self.config.docker_host
        with engine_errors(self.config.service_name, "connect to the Docker engine", host):
            return engine.client(host)

    @property
    def container(self) -> Any:
        """The docker SDK ``Container`` running this service, or None when it has none (a
        container of that name that carries another service's uuid is not ours)."""
        client = self.docker_client
        with engine_errors(self.config.service_name, "look up the container", self.config.docker_host):
            container_id = engine.own_container_id(client, self.container_id, str(self.uuid))
            if container_id is None and self.status.container_id:
                container_id = engine.own_container_id(client, self.container_name, str(self.uuid))
            return client.containers.get(container_id) if container_id is not None else None

    # -- backend contract -----------------------------------------------------------------------

    def provision(self) -> None:
        """Create and start the container (detached, never auto-removed, with an init process)."""
        check_definition(self)
        engine.require_sdk(self.config.service_name, "start the container")
        host = self.config.docker_host
        where = engine.location(host)
        with engine_errors(self.config.service_name, "start the container", host):
            client = engine.client(host)
            self.status.reset_for_launch()
            if self.endpoint is not None:
                self.endpoint.prepare_for_start(str(self.uuid), where)
            files = RuntimeFiles.prepare(
                str(self.uuid), self.config.root_runtime_path, self.config.singleton
            )
            self.status.runtime_path = str(files.path)
            files.write_definition(self)
            try:
                args = create_args(self, where)
                container = engine.create_and_start(client, args, pull(self), str(self.uuid))
            except BaseException:
                release_ports(str(self.uuid))
                raise
            self.status.container_id = container.id
            self.status.engine_id = engine.engine_id(host)
            read_back_ports(self, container)

    def deprovision(self, force: bool = False) -> None:
        """SIGTERM, ``stop_grace_period`` seconds, SIGKILL (Docker's stop); save logs; remove."""
        self._take_down(math.ceil(bounded_grace(self.config.stop_grace_period, force=force)))

    def deprovision_within(self, timeout: float, force: bool = False) -> None:
        """Like :meth:`deprovision`, the grace shortened to ``timeout`` for this stop only."""
        grace = bounded_grace(self.config.stop_grace_period, timeout, force)
        self._take_down(math.ceil(grace))

    def _take_down(self, grace: int) -> None:
        engine.require_sdk(self.config.service_name, "stop the container")
        host = self.config.docker_host
        with engine_errors(self.config.service_name, "stop the container", host):
            client = engine.client(host)
            for container in engine.containers_of(client, str(self.uuid)):
                engine.stop_container(container, grace)
                self._save_logs(container)
                container.remove(force=True)
        release_ports(str(self.uuid))

    def reach_problem(self) -> str:
        """Any host reaching the engine the container was created on sees and stops it; a host
        whose ``DOCKER_HOST`` reaches another engine would not find it there, so it must not
        judge (nor replace) it. An engine that does not answer is not a reach problem: the
        status says the engine is down."""
        recorded = self.status.engine_id
        if not recorded:
            return ""
        host = self.config.docker_host
        try:
            with engine_errors(self.config.service_name, "identify the engine", host):
                here = engine.engine_id(host)
        except ContainerEngineError:
            return ""
        if here == recorded:
            return ""
        return (
            f"its container runs on Docker engine {recorded}, and {engine.engine_url(host)} here "
            f"is engine {here} (point DOCKER_HOST at the container's engine)"
        )

    def check_status(self) -> tuple[ServiceState, str]:
        """The engine's view (state, exit code, restarts, health); no engine is ERROR."""
        try:
            engine.require_sdk(self.config.service_name, "inspect the container")
            host = self.config.docker_host
            with engine_errors(self.config.service_name, "inspect the container", host):
                client = engine.client(host)
                attrs = engine.inspect(client, self.status.container_id or self.container_name)
                if attrs is None and self.status.container_id:  # replaced by another starter
                    attrs = engine.inspect(client, self.container_name)
        except ContainerEngineError as exc:
            return ServiceState.ERROR, str(exc)
        labels = (attrs or {}).get("Config", {}).get("Labels") or {}
        if attrs is None or labels.get(LABEL_UUID) != str(self.uuid):
            return self._judge_missing()
        self.status.container_id = attrs["Id"]
        self.status.restart_count = int(attrs.get("RestartCount") or 0)
        state: dict[str, Any] = attrs.get("State") or {}
        self.status.health = (state.get("Health") or {}).get("Status")
        if state.get("Status") in ("exited", "dead"):
            self.status.exit_code = state.get("ExitCode")
        stopped = self.admin_state == ServiceState.INACTIVE
        return engine.judge_state(state, self.status.restart_count, self.container_name, stopped)

    def get_logs(
        self, follow: bool = False, tail: int | None = None
    ) -> Generator[str, bool, None]:
        """The container's own log stream (what ``docker logs`` shows), or the saved log once
        the container is removed. Following stops when the caller sends ``True``."""
        engine.require_sdk(self.config.service_name, "read the container's logs")
        for line in self._log_lines(follow, tail):
            if (yield line):
                return

    def runtime_files(self) -> RuntimeFiles | None:
        """The runtime directory: the definition as the container got it, the saved log."""
        return RuntimeFiles.recorded(self.status.runtime_path, self.config.singleton)

    def prediction_path(self) -> str:
        """``config.prediction_path``."""
        return self.config.prediction_path

    def runtime_facts(self) -> dict[str, Any]:
        """The container's id and how often the engine restarted it."""
        return {"container_id": self.status.container_id, "restarts": self.status.restart_count}

    def restart_policy(self) -> RestartPolicy:
        """``config.restart``: the engine applies it."""
        return self.config.restart

    # -- helpers --------------------------------------------------------------------------------

    def _judge_missing(self) -> tuple[ServiceState, str]:
        if self.admin_state == ServiceState.ACTIVE and self.status.container_id:
            return ServiceState.ERROR, (
                f"container {self.container_name} ({self.status.container_id[:12]}) no longer "
                "exists: it was removed outside outlive"
            )
        return ServiceState.INACTIVE, ""

    def _log_path(self) -> Path | None:
        return Path(self.status.log_file) if self.status.log_file else None

    def _save_logs(self, container: Any) -> None:
        """Keep the last lines on disk, since removing the container drops its logs."""
        if self.status.log_file is None:
            return
        data: bytes = container.logs(tail=KEPT_LOG_LINES)
        write_private(Path(self.status.log_file), data.decode("utf-8", errors="replace"))

    def _log_lines(self, follow: bool, tail: int | None) -> Iterator[str]:
        host = self.config.docker_host
        with engine_errors(self.config.service_name, "read the container's logs", host):
            api_client = engine.client(host)
            ref = self.status.container_id or self.container_name
            container_id = engine.own_container_id(api_client, ref, str(self.uuid))
            if container_id is None:
                yield from saved_log_lines(self._log_path(), tail)
                return
            chunks = api_client.api.logs(
                container_id, stream=True, follow=follow, tail="all" if tail is None else tail
            )
            yield from engine.split_lines(chunks)


def container_http_endpoint(
    port: int | None = None,
    *,
    container_port: int | None = None,
    health_path: str = "/",
    host: str = "127.0.0.1",
    allocate_port: bool = True,
) -> ContainerServiceEndpoint:
    """An HTTP endpoint with an HTTP health monitor on ``health_path``, published on ``host``."""
    return http_endpoint_of(
        ContainerServiceEndpoint, ContainerServiceEndpointConfig, port=port,
        health_path=health_path, host=host, allocate_port=allocate_port,
        container_port=container_port,
    )
