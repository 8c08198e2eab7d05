"""``CommandService``: any program as a service (``python -m http.server {port}``, ``redis-server``).

It shares :class:`~plugin_core.backends.supervised.SupervisedService` with
:class:`~plugin_core.backends.local.LocalDaemonService`: the supervisor runs the command
itself instead of the daemon entrypoint, so it gets the same detachment, identity,
stop-the-tree, logs and restart policy, with no Python start-up in between, and none of
what only a ``run()`` method has (``blocking``, the importability check).
"""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

import os
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from plugin_core.backends.supervised import (
    SupervisedService,
    SupervisedServiceConfig,
    http_endpoint,
)
from plugin_core.model.service_type import ServiceType


class CommandServiceConfig(SupervisedServiceConfig):
    """The program to run: ``command`` is an argv list (or a shell-like string, split with shlex).

    ``{port}`` and ``{host}`` in the command, ``env`` values and ``cwd`` are replaced by the
    endpoint's address when the service starts.
    """

    command: list[str] = Field(min_length=1)
    cwd: str | None = None

    @field_validator("command", mode="before")
    @classmethod
    def _split_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            import shlex

            value = shlex.split(value)
        if isinstance(value, list) and (not value or not all(isinstance(v, str) for v in value)):
            raise ValueError(
                "command must be a non-empty list of strings, e.g. ['python', '-m', 'http.server', '{port}']"
            )
        if isinstance(value, list) and not value[0].strip():
            raise ValueError("command[0] (the program) must not be empty")
        return value

    @model_validator(mode="before")
    @classmethod
    def _never_blocking(cls, data: Any) -> Any:
        """``blocking`` belongs to ``run()`` services; records written while this config still
        carried the field hold ``blocking: false``, which is dropped."""
        if not isinstance(data, dict) or "blocking" not in data:
            return data
        if data["blocking"]:
            raise ValueError(
                "blocking=True is not supported by CommandService: it runs a LocalDaemonService's "
                "run() in the calling process, and a command service has no run(). Leave "
                "blocking False (the command then runs detached), or run the program in the "
                "foreground yourself with subprocess.run(command)."
            )
        return {key: value for key, value in data.items() if key != "blocking"}

    @field_validator("cwd")
    @classmethod
    def _absolute_cwd(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isabs(os.path.expanduser(value)):
            raise ValueError(f"cwd must be an absolute path (got {value!r}): the service outlives the caller's directory")
        return os.path.expanduser(value) if value else value


class CommandService(SupervisedService):
    """Run ``config.command`` as a detached, supervised service."""

    SERVICE_TYPE: ClassVar[ServiceType] = ServiceType(
        type="local", flavor="command", name="Command", description="Any program run as a service"
    )

    config: CommandServiceConfig

    @classmethod
    def http(
        cls,
        name: str,
        command: list[str] | str,
        *,
        port: int | None = None,
        health_path: str = "/",
        **config: Any,
    ) -> "CommandService":
        """A command service with an HTTP endpoint and health check: the usual model server."""
        return cls(
            config=CommandServiceConfig(name=name, command=command, **config),
            endpoint=http_endpoint(port, health_path=health_path),
        )

    def daemon_argv(self) -> list[str]:
        """The command with ``{port}`` and ``{host}`` filled in."""
        return [self._fill(part) for part in self.config.command]

    def daemon_cwd(self) -> str:
        """``cwd`` if given, else the runtime directory (never the caller's temporary directory)."""
        return self._fill(self.config.cwd) if self.config.cwd else super().daemon_cwd()

    def daemon_env(self) -> dict[str, str]:
        """The configured env (templated) plus secrets; no Python path changes needed."""
        env = {key: self._fill(value) for key, value in self.config.env.items()}
        env.update({k: v.get_secret_value() for k, v in self.config.secret_env.items()})
        return env

    def _fill(self, text: str) -> str:
        """``{port}``/``{host}``: the endpoint's reserved address (loopback without one)."""
        from plugin_core.backends.templating import fill_address

        port, host = None, "127.0.0.1"
        if self.endpoint is not None:
            port = self.endpoint.status.port
            host = self.endpoint.status.hostname or self.endpoint.config.ip_address
        return fill_address(text, service_name=self.config.service_name, port=port, host=host)
