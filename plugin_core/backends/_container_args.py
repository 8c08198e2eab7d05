"""What the engine is asked to run for a :class:`~plugin_core.backends.container.ContainerService`:
the arguments of ``containers.create``, and the pull credentials.

Kept apart from the service class (the lifecycle's side) so that each stays small: this module
only turns a definition into plain SDK arguments, and touches neither the engine nor the SDK.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

from plugin_core.backends import _docker_engine as engine
from plugin_core.backends._docker_engine import LABEL_NAME, LABEL_UUID
from plugin_core.backends.loadable import module_root, require_loadable
from plugin_core.backends.templating import fill_address
from plugin_core.errors import ConfigError
from plugin_core.model.typed import script_path

if TYPE_CHECKING:
    from plugin_core.backends.container import ContainerService

SERVICE_JSON_ENV = "OUTLIVE_SERVICE_JSON"
DEFAULT_IMAGE_ENV = "OUTLIVE_CONTAINER_IMAGE"
DEFAULT_RUNTIME_IMAGE = "outlive-runtime:latest"
ENTRYPOINT_MODULE = "plugin_core.backends._container_entrypoint"
CODE_MOUNT = "/opt/outlive-code"


class RegistryAuth(BaseModel):
    """Credentials for pulling from a private registry (``docker login``'s username, password
    and server). Used in memory for the pull only: never saved in the registry, the runtime
    files or the container's environment, so a record holds no password."""

    username: str
    password: SecretStr
    registry: str = ""

    def auth_config(self) -> dict[str, str]:
        """The docker SDK's ``auth_config`` for ``images.pull``."""
        auth = {"username": self.username, "password": self.password.get_secret_value()}
        if self.registry:
            auth["serveraddress"] = self.registry
        return auth


def create_args(service: ContainerService, where: engine.EngineLocation) -> dict[str, Any]:
    """``containers.create`` arguments: detached, never auto-removed, with an init process,
    labelled with the service's uuid and name, ``{port}``/``{host}`` filled in."""
    config = service.config
    ip = service.endpoint.config.ip_address if service.endpoint is not None else "127.0.0.1"
    ports: dict[str, Any] = {
        f"{inside}/tcp": (where.publish_ip(ip), outside) for inside, outside in config.ports.items()
    }
    if service.endpoint is not None:
        ports.update(service.endpoint.port_bindings(where))
    args: dict[str, Any] = {
        "image": config.image or os.environ.get(DEFAULT_IMAGE_ENV, DEFAULT_RUNTIME_IMAGE),
        "name": service.container_name,
        "labels": labels(service),
        "environment": {
            **{key: fill(service, value) for key, value in config.environment.items()},
            **{key: value.get_secret_value() for key, value in config.secret_environment.items()},
        },
        "ports": ports,
        "volumes": list(config.volumes),
        "init": True,
        "restart_policy": engine.restart_policy(config.restart),
        "stop_signal": "SIGTERM",
        "working_dir": config.working_dir,
        "user": config.user,
        "mem_limit": config.mem_limit,
        "nano_cpus": int(config.cpus * 1e9) if config.cpus else None,
    }
    if config.command is not None:
        args["command"] = [fill(service, part) for part in config.command]
    if config.entrypoint is not None:
        args["entrypoint"] = [fill(service, part) for part in config.entrypoint]
    if service.runs_python:
        _add_python_entrypoint(service, args, where)
    return {key: value for key, value in args.items() if value is not None}


def _add_python_entrypoint(
    service: ContainerService, args: dict[str, Any], where: engine.EngineLocation
) -> None:
    """The ZenML way: the container runs outlive's entrypoint, which loads the service from
    ``$OUTLIVE_SERVICE_JSON`` and calls ``run()``; the subclass's code is mounted when the
    engine is local."""
    config = service.config
    args["entrypoint"] = [config.python_executable, "-m", ENTRYPOINT_MODULE]
    args.pop("command", None)
    args["environment"][SERVICE_JSON_ENV] = service.to_json()
    script = script_path(type(service))
    if script is not None:
        # A class from the script being run: the container loads that script by the path
        # stored in the service's type, so it is mounted at the same path.
        if not (config.mount_code and where.on_this_machine):
            raise ConfigError(
                f"Service {config.service_name!r}: {type(service).__qualname__} is defined "
                f"in the script {script}, which only a local engine with mount_code=True "
                "can see; define the class in a module installed in the image instead."
            )
        args["volumes"].append(f"{script}:{script}:ro")
        return
    code = code_to_mount(type(service))
    if code and config.mount_code and where.on_this_machine:
        args["volumes"].append(f"{code}:{CODE_MOUNT}/{Path(code).name}:ro")
        args["environment"]["PYTHONPATH"] = CODE_MOUNT


def code_to_mount(cls: type) -> str | None:
    """The top-level package directory (or module file) holding ``cls``, to mount into the
    container; None for outlive's own classes, which the image already holds."""
    root = module_root(cls)
    if root is None:
        return None
    top = cls.__module__.split(".")[0]
    for candidate in (Path(root) / top, Path(root) / f"{top}.py"):
        if candidate.exists():
            return str(candidate)
    return None


def pull(service: ContainerService) -> engine.Pull:
    """When to pull the image, from which engine, with which credentials."""
    auth = service.config.registry_auth
    return engine.Pull(
        service.config.pull, service.config.docker_host, auth.auth_config() if auth else None
    )


def labels(service: ContainerService) -> dict[str, str]:
    """The user's labels (``outlive.label.<key>``) plus the service's uuid and name, by which
    its containers are found and cleaned up."""
    config = service.config
    found = {f"outlive.label.{key}": value for key, value in config.labels.items()}
    found.update({LABEL_UUID: str(service.uuid), LABEL_NAME: config.service_name})
    return found


def fill(service: ContainerService, text: str) -> str:
    """``{port}``: the port to listen on inside the container; ``{host}``: all interfaces."""
    port = service.endpoint.status.container_port if service.endpoint is not None else None
    return fill_address(text, service_name=service.config.service_name, port=port, host="0.0.0.0")


def check_definition(service: ContainerService) -> None:
    """Refuse at once a definition the container could not run: no image and no ``run()``,
    or a ``run()`` class the container could not load back."""
    if not service.runs_python and not service.config.image:
        raise ConfigError(
            f"Service {service.config.service_name!r}: set `image` (and `command`), or subclass "
            "ContainerService and implement run()."
        )
    if service.runs_python:
        require_loadable(service, "the container")


def read_back_ports(service: ContainerService, container: Any) -> None:
    """Record the ports the engine chose (a remote engine, or extra ``ports`` without a host
    port); the ones reserved here are known already."""
    config, endpoint = service.config, service.endpoint
    unknown = any(v is None for v in config.ports.values())
    endpoint_known = endpoint is None or endpoint.status.port is not None
    if endpoint_known and not unknown:
        service.status.published_ports = {k: v for k, v in config.ports.items() if v}
        return
    published = engine.published_ports(container)
    service.status.published_ports = dict(published)
    if endpoint is not None and endpoint.status.port is None:
        endpoint.status.port = published.get(endpoint.status.container_port or 0)
