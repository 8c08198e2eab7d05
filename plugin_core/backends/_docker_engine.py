"""The edge between :mod:`plugin_core.backends.container` and the docker SDK.

Everything that touches the SDK's objects or exceptions lives here: the cached client, where
the engine is (local socket or a network address from ``DOCKER_HOST``), and
:func:`engine_errors`, which turns every SDK and transport error into a
:class:`ContainerEngineError` that names the service, what was being done, the engine and the
fix. ``docker`` is imported lazily so that importing outlive stays cheap for orchestrators.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from plugin_core.errors import ContainerEngineError
from plugin_core.model.restart import RestartPolicy
from plugin_core.model.state import ServiceState

LABEL_UUID = "outlive.service-uuid"
LABEL_NAME = "outlive.service-name"
DEFAULT_CONTAINER_PORT = 8000
_CLIENT_ENV = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
_CLIENTS: dict[tuple[str, ...], Any] = {}
_ENGINE_IDS: dict[tuple[str, ...], str] = {}
_CLIENTS_LOCK = threading.Lock()


def require_sdk(service_name: str, action: str) -> None:
    """Without the ``docker`` extra, say so (instead of a ModuleNotFoundError)."""
    try:
        import docker  # type: ignore[import-untyped, unused-ignore]  # noqa: F401
    except ImportError:
        raise ContainerEngineError(
            f"Service {service_name!r}: cannot {action}: the docker SDK is not "
            "installed. Install the extra: pip install 'outlive[docker]'."
        ) from None


def engine_url(host: str | None = None) -> str:
    """The engine as the user configured it, for messages: the service's ``docker_host``,
    else ``DOCKER_HOST``, else the local socket."""
    return host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


@contextmanager
def engine_errors(service_name: str, action: str, host: str | None = None) -> Iterator[None]:
    """Translate docker SDK and transport errors into :class:`ContainerEngineError`."""
    import docker.errors  # type: ignore[import-untyped, unused-ignore]
    import requests.exceptions

    prefix = f"Service {service_name!r}: cannot {action}"
    where = engine_url(host)
    fix = "fix the service's docker_host" if host else "point DOCKER_HOST"
    try:
        yield
    except ContainerEngineError:
        raise
    except docker.errors.ImageNotFound as exc:
        raise ContainerEngineError(
            f"{prefix}: the image is not on the engine at {where} ({exc.explanation}). "
            "Build or load it there, or fix `image`."
        ) from exc
    except docker.errors.APIError as exc:
        reason = str(exc.explanation or exc)
        wants_tls = "HTTPS" in reason
        hint = " (it wants TLS: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH)" if wants_tls else ""
        raise ContainerEngineError(
            f"{prefix}: the engine at {where} refused: {reason}{hint}"
        ) from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ContainerEngineError(
            f"{prefix}: the Docker engine at {where} does not answer ({exc}). Start it "
            f"(dockerd, Docker Desktop) or {fix} (with DOCKER_TLS_VERIFY and "
            "DOCKER_CERT_PATH for TLS) at a running engine."
        ) from exc


def client(host: str | None = None) -> Any:
    """A docker client for the current ``DOCKER_*`` settings (``host`` replaces
    ``DOCKER_HOST``), created once per process and reused: creating one costs a round trip to
    negotiate the API version. Keyed by pid too, so a forked worker never shares its parent's
    pooled connections."""
    environment = _environment(host)
    key = (str(os.getpid()), *(environment.get(name, "") for name in _CLIENT_ENV))
    with _CLIENTS_LOCK:
        cached = _CLIENTS.get(key)
        if cached is None:
            cached = _CLIENTS[key] = _connect(environment)
    return cached


def engine_id(host: str | None = None) -> str:
    """The identity of the engine the current ``DOCKER_*`` settings (``host`` replacing
    ``DOCKER_HOST``) reach: the same from every host that shares the engine, another one for
    another engine. ``docker info``'s ``ID`` (from the machine's ``/etc/docker/key.json``) plus
    its root directory, which tells two daemons of one machine apart. Asked once per process
    and setting."""
    environment = _environment(host)
    key = tuple(environment.get(name, "") for name in _CLIENT_ENV)
    with _CLIENTS_LOCK:
        known = _ENGINE_IDS.get(key)
    if known is None:
        info = client(host).info()
        known = f"{info.get('ID') or ''}@{info.get('DockerRootDir') or ''}"
        with _CLIENTS_LOCK:
            _ENGINE_IDS[key] = known
    return known


def _environment(host: str | None) -> dict[str, str]:
    """The ``DOCKER_*`` settings the SDK reads, with a service's own ``docker_host`` first."""
    environment = dict(os.environ)
    if host:
        environment["DOCKER_HOST"] = host
    return environment


def _connect(environment: dict[str, str]) -> Any:
    """``docker.from_env()``, with the engine's CA fixed before the first request is sent."""
    import docker

    probe = docker.from_env(
        version=docker.constants.MINIMUM_DOCKER_API_VERSION, environment=environment
    )
    _trust_engine_ca(probe.api)
    try:
        api_version = probe.api.version(api_version=False)["ApiVersion"]
    finally:
        probe.close()
    connected = docker.from_env(version=api_version, environment=environment)
    _trust_engine_ca(connected.api)
    return connected


def _trust_engine_ca(session: Any) -> None:
    """requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace a session's own CA file
    (docker/docker-py#2433), so a TLS engine fails verification whenever those are set, as on
    many CI machines. Pass the session's CA file (``DOCKER_CERT_PATH/ca.pem``) explicitly."""
    if not isinstance(session.verify, str):
        return
    merge = session.merge_environment_settings

    def merge_keeping_engine_ca(
        url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        return merge(url, proxies, stream, session.verify if verify is None else verify, cert)

    session.merge_environment_settings = merge_keeping_engine_ca


@dataclass(frozen=True)
class EngineLocation:
    """Where the engine runs: ``host`` is its network address, or None for a local socket."""

    host: str | None

    @property
    def on_this_machine(self) -> bool:
        """True when host ports can be checked and reserved here (socket or loopback address)."""
        return self.host is None or _is_loopback(self.host)

    def publish_ip(self, wanted: str) -> str:
        """The host address to publish on: ``wanted``, except that loopback means the engine's
        own address when the engine is reached over the network (its loopback is not ours)."""
        if self.host is None or not _is_loopback(wanted):
            return wanted
        return _resolve(self.host)

    def hostname(self, publish_ip: str) -> str:
        """The name a client uses to reach a port published on ``publish_ip``."""
        if publish_ip in ("0.0.0.0", "::", ""):
            return self.host or ("::1" if publish_ip == "::" else "127.0.0.1")
        if self.host is not None and publish_ip == _resolve(self.host):
            return self.host
        return publish_ip


def location(host: str | None = None) -> EngineLocation:
    """The engine's location from ``host`` or ``DOCKER_HOST`` (unset, ``unix://`` or
    ``npipe://``: local)."""
    parts = urlsplit(host or os.environ.get("DOCKER_HOST", ""))
    if parts.scheme in ("tcp", "http", "https", "ssh") and parts.hostname:
        return EngineLocation(parts.hostname)
    return EngineLocation(None)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _resolve(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return socket.gethostbyname(host)
    return host


def inspect(api_client: Any, ref: str) -> dict[str, Any] | None:
    """The engine's record of a container (by id or name), or None when there is none."""
    import docker.errors

    try:
        attrs: dict[str, Any] = api_client.api.inspect_container(ref)
    except docker.errors.NotFound:
        return None
    return attrs


def own_container_id(api_client: Any, ref: str, uuid: str) -> str | None:
    """The id of the container ``ref`` if it carries this service's uuid label."""
    attrs = inspect(api_client, ref)
    if attrs is None or (attrs["Config"].get("Labels") or {}).get(LABEL_UUID) != uuid:
        return None
    return str(attrs["Id"])


def remove_own_container(api_client: Any, name: str, uuid: str, host: str | None = None) -> None:
    """Clear the name for a new container: ours (a stopped earlier run) goes, a foreign one
    is an error, because removing someone else's container is never our call."""
    attrs = inspect(api_client, name)
    if attrs is None:
        return
    owner = (attrs["Config"].get("Labels") or {}).get(LABEL_UUID)
    if owner != uuid:
        whose = f"service {owner}" if owner else "no outlive service"
        raise ContainerEngineError(
            f"A container named {name!r} ({attrs['Id'][:12]}) already exists on {engine_url(host)} "
            f"and belongs to {whose}. Remove it (`docker rm -f {name}`) or give this service "
            "another name."
        )
    api_client.api.remove_container(attrs["Id"], force=True)


@dataclass(frozen=True)
class Pull:
    """How to get a missing image: the policy, the engine (for messages) and registry
    credentials (the SDK's ``auth_config``: username, password, serveraddress), never stored."""

    policy: str = "missing"
    host: str | None = None
    auth: dict[str, str] | None = None


def create_and_start(api_client: Any, args: dict[str, Any], pull: Pull, uuid: str) -> Any:
    """Create and start a container; a container that was created but could not start is
    removed, so nothing is left behind."""
    import docker.errors

    if pull.policy == "always":
        _pull(api_client, args["image"], pull)
    try:
        container = _create(api_client, args, pull)
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: the name is taken
            raise
        remove_own_container(api_client, args["name"], uuid, pull.host)
        container = _create(api_client, args, pull)
    try:
        container.start()
    except BaseException:
        with suppress(docker.errors.DockerException):
            container.remove(force=True)
        raise
    return container


def _create(api_client: Any, args: dict[str, Any], pull: Pull) -> Any:
    """Create, pulling the image when the engine lacks it (unless ``pull`` is ``never``)."""
    import docker.errors

    try:
        return api_client.containers.create(**args)
    except docker.errors.ImageNotFound:
        if pull.policy == "never":
            raise ContainerEngineError(
                f"Image {args['image']!r} is not on the engine at {engine_url(pull.host)} and "
                "pull='never'. Build or load it there first, or allow pulling."
            ) from None
    _pull(api_client, args["image"], pull)
    return api_client.containers.create(**args)


def _pull(api_client: Any, image: str, pull: Pull) -> None:
    import docker.errors
    from docker.utils import parse_repository_tag  # type: ignore[import-untyped, unused-ignore]

    repository, tag = parse_repository_tag(image)
    try:
        api_client.images.pull(repository, tag=tag or "latest", auth_config=pull.auth)
    except docker.errors.APIError as exc:
        raise ContainerEngineError(
            f"Image {image!r} is not on the engine at {engine_url(pull.host)}, and pulling it failed: "
            f"{exc.explanation or exc}. Check the name, log in to its registry, or build/load "
            "it on the engine."
        ) from exc


def containers_of(api_client: Any, uuid: str) -> list[Any]:
    """Every container labelled with the service's uuid, running or not."""
    found: list[Any] = api_client.containers.list(
        all=True, filters={"label": f"{LABEL_UUID}={uuid}"}
    )
    return found


def stop_container(container: Any, grace: int) -> None:
    """Docker's stop: the stop signal (SIGTERM) to the init process, ``grace`` seconds, SIGKILL."""
    if container.status in ("running", "restarting", "paused"):
        container.stop(timeout=grace)


def published_ports(container: Any) -> dict[int, int]:
    """Container port -> host port, as the engine published them."""
    container.reload()
    ports: dict[int, int] = {}
    for key, bindings in (container.attrs["NetworkSettings"].get("Ports") or {}).items():
        if bindings:
            ports[int(key.split("/")[0])] = int(bindings[0]["HostPort"])
    return ports


def restart_policy(policy: RestartPolicy) -> dict[str, Any]:
    """The core's restart modes in Docker's terms; Docker applies its own backoff."""
    if policy.mode == "always":
        return {"Name": "always"}
    if policy.mode == "on-failure":
        return {"Name": "on-failure", "MaximumRetryCount": policy.max_restarts or 0}
    return {"Name": "no"}


def judge_state(
    state: dict[str, Any], restarts: int, name: str, stopped: bool
) -> tuple[ServiceState, str]:
    """The engine's ``State`` as a service state: running is ACTIVE (then health probes
    decide), restarting is PENDING_STARTUP, an exit is ERROR unless we stopped it."""
    phase, code = state.get("Status"), state.get("ExitCode")
    if phase == "running":
        if (state.get("Health") or {}).get("Status") == "unhealthy":
            return ServiceState.ERROR, "the container's own health check reports unhealthy"
        return ServiceState.ACTIVE, ""
    if phase == "restarting":
        return ServiceState.PENDING_STARTUP, (
            f"restarting after {describe_exit(code)} (restart {restarts})"
        )
    if phase == "created":
        return ServiceState.PENDING_STARTUP, "container created, not started yet"
    if phase == "paused":
        return ServiceState.ERROR, f"paused; resume it with `docker unpause {name}`"
    if phase in ("exited", "dead"):
        if stopped:
            return ServiceState.INACTIVE, ""
        oom = " (out of memory: raise mem_limit)" if state.get("OOMKilled") else ""
        return ServiceState.ERROR, f"container exited: {describe_exit(code)}{oom}"
    return ServiceState.INACTIVE, f"container is {phase}"


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Log frames arrive in arbitrary pieces; yield whole lines."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", errors="replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", errors="replace")


def describe_exit(code: int | None) -> str:
    """Docker reports a signal death as 128 + the signal number; say which signal."""
    if code is None:
        return "an unknown exit code"
    if code > 128:
        with suppress(ValueError):
            return f"exit code {code} ({signal.Signals(code - 128).name})"
    return f"exit code {code}"
