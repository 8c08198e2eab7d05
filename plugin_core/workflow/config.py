"""What a workflow service is asked to be: ``WorkflowServiceConfig``.

The config is a typed :class:`~plugin_core.ServiceConfig`, so it is stored in the
registry and loaded back by daemons, sensors and the CLI, and it must stay
importable without the ``[workflow]`` extra. Reading it from the environment
(``OUTLIVE_WORKFLOW_*``, for containers and ``python -m plugin_core.workflow``)
goes through pydantic-settings, imported only by :meth:`WorkflowServiceConfig.from_env`;
:func:`workflow_env` writes that environment, to run the service in a container.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from plugin_core.backends.local import LocalDaemonServiceConfig
from plugin_core.model.config import ServiceConfig

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings, SettingsConfigDict
else:  # records of workflow services still load where the [workflow] extra is missing
    try:
        from pydantic_settings import BaseSettings, SettingsConfigDict
    except ImportError:  # pragma: no cover - depends on the installed extras
        from pydantic import BaseModel as BaseSettings, ConfigDict as SettingsConfigDict

ENV_PREFIX = "OUTLIVE_WORKFLOW_"
LLAMA_ENV_PREFIX = "WORKFLOW_SERVICE_"


class WorkflowServiceConfig(LocalDaemonServiceConfig, BaseSettings):
    """A Python callable or workflow served over HTTP, with bounded concurrency.

    Like llama_deploy's, it is a pydantic-settings ``BaseSettings``: fields not
    passed are read from ``WORKFLOW_SERVICE_*`` variables (``WORKFLOW_SERVICE_PORT``...),
    with llama_deploy's field names (``service_name``, ``host``, ``port``,
    ``internal_host``, ``internal_port``, ``description``, ``running``,
    ``step_interval``, ``max_concurrent_tasks``, ``raise_exceptions``).
    ``workflow`` may stay empty when the service is given a workflow object.

    It is a local daemon's config too (``env``, ``restart``, ``stop_grace_period``...),
    because a started workflow service runs as a detached daemon that outlives the run.

    ``host``/``port`` are the advertised address (what the registry and clients
    use); ``internal_host``/``internal_port`` the bind address when they differ
    (a container binding 0.0.0.0). At most ``max_concurrent_tasks`` tasks run at
    once and at most ``max_queued_tasks`` wait: past that, new tasks get 429 with
    ``Retry-After`` instead of piling up in memory.

    ``queue_url`` picks the task intake: ``"sqlite"`` (default; durable, no server,
    one replica per file), ``"sqlite:///path/queue.db"``, ``"memory"`` (fastest,
    lost on restart) or ``"redis://host:port/0"`` (Redis Streams with a consumer
    group, for several replicas). ``registry_url`` is the control plane and the
    session store (None: the default registry). Finished tasks are kept ``result_ttl``
    seconds; a task past ``task_timeout`` is cancelled; on SIGTERM running tasks get
    ``drain_timeout`` seconds before they go back to the queue. ``step_interval`` is how
    often a waiter re-reads a result another process may have written (local results
    wake waiters at once). Replicas heartbeat every ``heartbeat_interval`` seconds and
    count as dead after ``heartbeat_ttl`` (default: three intervals). When the task
    queue does not answer (Redis down, the SQLite file locked or full) the replica
    pauses intake and waits; it exits only after ``queue_outage_limit`` seconds of
    outage. ``running=False`` (llama_deploy's flag) accepts tasks but runs none
    until it is set back to True.

    Delivery is at-least-once: a task running when its process dies runs again (its
    record's ``attempts`` says how often it started); submit with an idempotency key
    or your own ``task_id`` so that retrying a submission never creates a second task.
    """

    model_config = SettingsConfigDict(
        env_prefix=LLAMA_ENV_PREFIX, extra="forbid", validate_assignment=True
    )

    workflow: str = Field(
        default="", description="Import path 'package.module:attribute' of the callable"
    )
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535)
    internal_host: str | None = None
    internal_port: int | None = Field(default=None, ge=1, le=65535)
    max_concurrent_tasks: int = Field(default=8, ge=1, le=10_000)
    max_queued_tasks: int = Field(default=256, ge=0)
    task_timeout: float | None = Field(default=300.0, gt=0)
    step_interval: float = Field(default=0.1, gt=0, le=10)
    raise_exceptions: bool = False
    queue_url: str = "sqlite"
    registry_url: str | None = None
    heartbeat_interval: float = Field(default=5.0, gt=0)
    heartbeat_ttl: float | None = Field(default=None, gt=0)
    drain_timeout: float = Field(default=5.0, ge=0)
    prediction_path: str = "/tasks"
    result_ttl: float = Field(default=24 * 3600.0, gt=0)
    queue_outage_limit: float = Field(default=300.0, gt=0)
    running: bool = True

    @model_validator(mode="after")
    def _check_workflow_path(self) -> WorkflowServiceConfig:
        module, sep, attr = self.workflow.partition(":")
        if self.workflow and not (module and sep and attr):
            raise ValueError(
                f"workflow {self.workflow!r} must be an import path 'package.module:attribute'"
            )
        return self

    @property
    def bind_host(self) -> str:
        """The address the server binds: ``internal_host`` or ``host``."""
        return self.internal_host or self.host

    @property
    def effective_heartbeat_ttl(self) -> float:
        """Seconds without a heartbeat after which a replica is dead (default: 3 beats)."""
        return self.heartbeat_ttl or 3 * self.heartbeat_interval

    @classmethod
    def from_env(cls, prefix: str = ENV_PREFIX, **overrides: Any) -> WorkflowServiceConfig:
        """Read fields from ``{prefix}{FIELD}`` environment variables, then apply ``overrides``.

        ``OUTLIVE_WORKFLOW_WORKFLOW=app.flows:summarise OUTLIVE_WORKFLOW_NAME=summariser``
        is enough; nested values (``LABELS``) are JSON.
        """
        settings_cls = _settings_class(cls, prefix)
        values = settings_cls(**overrides).model_dump(exclude_unset=True)
        values.pop("type", None)
        return cls.model_validate(values)


_DAEMON_ONLY = set(LocalDaemonServiceConfig.model_fields) - set(ServiceConfig.model_fields)


def workflow_env(
    config: WorkflowServiceConfig, prefix: str = ENV_PREFIX, **overrides: Any
) -> dict[str, str]:
    """The environment that makes ``python -m plugin_core.workflow`` serve ``config``.

    For a container or a command service, e.g. with the container backend's templating:
    ``workflow_env(config, internal_host="0.0.0.0", internal_port="{port}")``. Fields of
    the local daemon (env, restart, log rotation...) are left out: they configure the
    process around the service, not the service.
    """
    values = config.model_dump(mode="json", exclude_defaults=True, exclude=_DAEMON_ONLY | {"type"})
    values.update(overrides)
    return {
        f"{prefix}{name.upper()}": value if isinstance(value, str) else json.dumps(value)
        for name, value in values.items()
    }


def _settings_class(config_cls: type[ServiceConfig], prefix: str) -> type[Any]:
    """A pydantic-settings twin of ``config_cls`` (same fields, no validators) for ``prefix``."""
    try:
        from pydantic import create_model
        from pydantic_settings import BaseSettings, SettingsConfigDict
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        from plugin_core.errors import ConfigError

        raise ConfigError(
            "Reading a workflow service from the environment needs pydantic-settings: "
            "pip install 'outlive[workflow]'"
        ) from exc

    class _Base(BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix=prefix, extra="ignore", env_parse_none_str="null"
        )

    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in config_cls.model_fields.items()
        if name != "type"
    }
    settings: type[Any] = create_model(f"{config_cls.__name__}Settings", __base__=_Base, **fields)
    return settings
