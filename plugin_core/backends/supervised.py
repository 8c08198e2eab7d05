"""``SupervisedService``: a local process run under outlive's supervisor; the base that
:class:`~plugin_core.backends.local.LocalDaemonService` (a ``run()`` method) and
:class:`~plugin_core.backends.command.CommandService` (any program) share.

The supervisor (:mod:`plugin_core.backends._supervisor`) runs in a new session, so the service
outlives its starter; it records the service's process and exit in ``state.json``, applies the
restart policy and stops the whole tree. What differs between the two services is only the
program it runs (:meth:`SupervisedService.daemon_argv`), where and with which environment: each
subclass says that and inherits nothing it must refuse.
"""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each string again for every subclass. See plugin_core.model.deferred.

import marshal
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from annotated_types import Ge, Le
from pydantic import Field, SecretStr, field_validator, model_validator

from plugin_core.backends.contract import bounded_grace
from plugin_core.backends.runtime_dir import (
    DEFINITION_FILE,
    STOP_REQUEST_FILE as STOP_REQUEST_FILE,
    SUPERVISOR_STATE_FILE as SUPERVISOR_STATE_FILE,
    RuntimeFiles,
    saved_log_lines,
)
from plugin_core.errors import DaemonSpawnError
from plugin_core.model.config import ServiceConfig
from plugin_core.model.duck_serialized import DuckSerialized
from plugin_core.model.endpoint import BaseServiceEndpoint, ServiceEndpointConfig
from plugin_core.model.restart import RestartPolicy
from plugin_core.model.state import ServiceState
from plugin_core.model.status import ServiceStatus
from plugin_core.service import BaseService

# Processes, ports, log following, waiting and the state judgement (plugin_core.observation) are
# imported where a service is launched, observed or stopped, not here: defining a service class (every DAG parse) need not pay for them.
if TYPE_CHECKING:
    from plugin_core.processes import ProcessIdentity

SERVICE_CONFIG_FILE = DEFINITION_FILE
SUPERVISOR_SPEC_FILE = "supervisor.json"
SERVICE_LOG_FILE = "service.log"
SERVICE_PID_FILE = "service.pid"
# How long past the grace period a stopper waits for the supervisor to finish taking the
# service down before it SIGKILLs the tree itself.
SUPERVISOR_STOP_MARGIN = 5.0


class SupervisedServiceConfig(ServiceConfig):
    """How to run a supervised process: where its files live, its logs, restarts and grace
    period, and the environment it gets.

    ``secret_env`` values reach the process through its environment only: they are
    excluded from every file and registry record.
    """

    silent_daemon: bool = False
    root_runtime_path: str | None = None
    singleton: bool = False
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, SecretStr] = Field(default_factory=dict, exclude=True)
    restart: RestartPolicy = Field(default_factory=RestartPolicy)
    stop_grace_period: Annotated[float, Ge(0), Le(3600)] = 10.0
    startsecs: Annotated[float, Ge(0), Le(3600)] = 1.0
    log_max_bytes: Annotated[int, Ge(0)] = 50 * 1024 * 1024
    log_backups: Annotated[int, Ge(0), Le(100)] = 5
    prediction_path: str = ""

    @field_validator("env", "secret_env")
    @classmethod
    def _usable_environment(cls, values: dict[str, Any]) -> dict[str, Any]:
        from plugin_core.model.environment import check_environment

        return check_environment(values)


class SupervisedServiceStatus(ServiceStatus):
    """Where the daemon's files are, which process supervises it and which one runs it.

    :attr:`pid` is, as in ZenML, the process that runs the service (``run()`` or the
    command); ``supervisor_pid`` (with its start token) is the process that watches it,
    restarts it and records its exit.
    """

    runtime_path: str | None = None
    silent_daemon: bool = False
    supervisor_pid: int | None = None
    supervisor_token: str | None = None
    child_pid: int | None = None
    restarts: int = 0

    @model_validator(mode="before")
    @classmethod
    def _records_before_the_rename(cls, data: Any) -> Any:
        """Records written before ``pid`` meant the service's own process named the supervisor
        ``pid``/``pid_token``."""
        if isinstance(data, dict) and ("pid" in data or "pid_token" in data):
            data = dict(data)
            data.setdefault("supervisor_pid", data.pop("pid", None))
            data.setdefault("supervisor_token", data.pop("pid_token", None))
        return data

    @property
    def pid(self) -> int | None:
        """The pid of the process running the service, while it runs (read from the
        supervisor's record and checked against the process's start time); else None."""
        from plugin_core.processes import ProcessIdentity

        record = read_supervisor_record(self)
        pid, token = record.get("child_pid"), record.get("child_token")
        if isinstance(pid, int) and isinstance(token, str) and ProcessIdentity(pid, token).is_alive():
            return pid
        return None

    @property
    def config_file(self) -> str | None:
        """The service JSON the daemon loads itself from."""
        return os.path.join(self.runtime_path, SERVICE_CONFIG_FILE) if self.runtime_path else None

    @property
    def log_file(self) -> str | None:
        """The service's log, or None for a silent daemon."""
        if not self.runtime_path or self.silent_daemon:
            return None
        return os.path.join(self.runtime_path, SERVICE_LOG_FILE)

    @property
    def pid_file(self) -> str | None:
        """Holds the supervisor's pid (identity is also checked against its start time)."""
        return os.path.join(self.runtime_path, SERVICE_PID_FILE) if self.runtime_path else None


def read_supervisor_record(status: SupervisedServiceStatus) -> dict[str, Any]:
    """The supervisor's ``state.json`` for this run, or {} (none yet, or left by an earlier run)."""
    from plugin_core.observation import supervisor_record

    return supervisor_record(status.runtime_path, status.supervisor_pid)


class SupervisedEndpoint(BaseServiceEndpoint):
    """An endpoint on this machine whose port is reserved before the process starts, so it
    can be passed in (``{port}``)."""

    def prepare_for_start(self, owner: str = "") -> None:
        """Reserve the port (preferred, else the last one, else a free one) and record it."""
        from plugin_core.ports import reserve_port

        preferred = self.config.port or self.status.port
        port = reserve_port(
            owner or "anonymous",
            host=self.config.ip_address,
            preferred=preferred,
            allocate=self.config.allocate_port or (self.config.port is None),
        )
        self.status.protocol = self.config.protocol
        self.status.hostname = self.config.ip_address
        self.status.port = port


class SupervisedService(BaseService):
    """A service run by a supervised detached local process; subclasses name the program."""

    HOST_BOUND: ClassVar[bool] = True

    config: DuckSerialized[SupervisedServiceConfig] = Field(
        default_factory=SupervisedServiceConfig
    )
    status: DuckSerialized[SupervisedServiceStatus] = Field(
        default_factory=SupervisedServiceStatus
    )
    endpoint: DuckSerialized[SupervisedEndpoint] | None = None

    # -- what the supervisor runs ---------------------------------------------------------------

    def daemon_argv(self) -> list[str]:
        """The program the supervisor runs."""
        raise NotImplementedError(f"{type(self).__name__} must implement daemon_argv()")

    def daemon_cwd(self) -> str:
        """The program's working directory: its own runtime directory, which nobody deletes."""
        assert self.status.runtime_path is not None
        return self.status.runtime_path

    def daemon_in_fork(self) -> Callable[[], int] | None:
        """The program as a function that a fork of the starter can run instead of exec'ing
        :meth:`daemon_argv` (returning its exit code), or None: always exec'd."""
        return None

    def daemon_env(self) -> dict[str, str]:
        """Extra environment for the program: the config's ``env`` and its secrets."""
        env = dict(self.config.env)
        env.update({k: v.get_secret_value() for k, v in self.config.secret_env.items()})
        return env

    # -- backend contract -----------------------------------------------------------------------

    def provision(self) -> None:
        """Launch the supervisor (which launches the program) and record its identity."""
        import json

        from plugin_core.paths import write_private
        from plugin_core.processes import ServiceLaunch, service_environment, spawn_supervisor

        files = self.prepare_launch()
        runtime = files.path
        files.write_definition(self, durable=False)
        (runtime / SUPERVISOR_STATE_FILE).unlink(missing_ok=True)
        spec = self._supervisor_spec(runtime)
        spec_path = runtime / "supervisor.marshal"  # read by the supervisor without json
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, marshal.dumps(spec))
        finally:
            os.close(fd)
        env = service_environment(self.daemon_env(), marker=str(self.uuid))
        launch = ServiceLaunch(
            spec["argv"], spec["cwd"], bool(spec["log_path"]), self.daemon_in_fork()
        )
        identity = spawn_supervisor(spec_path, env=env, cwd=runtime, launch=launch)
        write_private(runtime / SUPERVISOR_SPEC_FILE, json.dumps(spec), durable=False)  # for people
        self.status.supervisor_pid, self.status.supervisor_token = identity.pid, identity.token
        write_private(runtime / SERVICE_PID_FILE, f"{identity.pid}\n", durable=False)

    def prepare_launch(self) -> RuntimeFiles:
        """Before a launch: the runtime directory, the endpoint's port, a fresh status."""
        files = RuntimeFiles.prepare(
            str(self.uuid), self.config.root_runtime_path, self.config.singleton
        )
        self.status.runtime_path = str(files.path)
        self.status.silent_daemon = self.config.silent_daemon
        if self.endpoint is not None:
            self.endpoint.prepare_for_start(owner=str(self.uuid))
        self.status.reset_for_launch()
        return files

    def deprovision(self, force: bool = False) -> None:
        """Stop the whole tree: supervisor, service and everything they ever started."""
        self._take_down(bounded_grace(self.config.stop_grace_period, force=force))

    def deprovision_within(self, timeout: float, force: bool = False) -> None:
        """A stop that must end within ``timeout`` seconds: the grace period is shortened to
        it for this stop only (it reaches the supervisor in ``stop.request``, not the config)."""
        self._take_down(bounded_grace(self.config.stop_grace_period, timeout, force))

    def _take_down(self, grace: float) -> None:
        """Record the stop request, let the supervisor stop the tree, then sweep what is left.

        The request is on disk before any signal is sent, so whatever is killed next (the
        supervisor included), the stop is judged a stop, never a crash."""
        from plugin_core.paths import write_private
        from plugin_core.ports import release_ports
        from plugin_core.processes import stop_tree, terminate_and_wait

        supervisor, child = self._supervisor(), self._child()
        if self.status.runtime_path and Path(self.status.runtime_path).is_dir():
            # "GRACE SUPERVISOR_PID": it concerns that supervisor only, so a later launch needs
            # not delete it (a reader holding the old record still sees that it was stopped).
            target = supervisor.pid if supervisor is not None else "-"
            write_private(
                Path(self.status.runtime_path) / STOP_REQUEST_FILE,
                f"{grace!r} {target}\n",
                durable=False,
            )
        alive = supervisor is not None and supervisor.is_alive()
        if supervisor is not None and alive:
            terminate_and_wait(supervisor, grace + SUPERVISOR_STOP_MARGIN)
        roots = [i for i in (supervisor, child) if i is not None]
        # With a supervisor, the grace was given already: what is left now is killed at once.
        stop_tree(roots, grace=0.0 if alive else grace, marker=str(self.uuid))
        if self.status.pid_file:
            Path(self.status.pid_file).unlink(missing_ok=True)
        release_ports(str(self.uuid))
        self.status.supervisor_pid = self.status.supervisor_token = None

    def check_status(self) -> tuple[ServiceState, str]:
        """Judge by process identity and the supervisor's record, never by a bare pid
        (:func:`plugin_core.observation.judge_supervised`, the rule ``outlive list`` uses too)."""
        from plugin_core.observation import Supervised, judge_supervised

        monitored = self.endpoint is not None and self.endpoint.monitor is not None
        facts = Supervised(
            self.admin_state, self.config.startsecs, self.config.restart.mode, monitored
        )
        return judge_supervised(self.status, facts, self._await_exit_record)

    def _await_exit_record(self, record: dict[str, Any], patience: float = 0.2) -> dict[str, Any]:
        """The service just died: give its supervisor a moment to record the exit code."""

        def exit_recorded() -> dict[str, Any] | None:
            nonlocal record
            if record.get("phase") != "running":
                return record
            record = self._supervisor_record()
            return None

        from plugin_core.processes import process_exit
        from plugin_core.waiting import wait_until

        wait_until(exit_recorded, timeout=patience, policy=process_exit())
        return record

    def get_logs(
        self, follow: bool = False, tail: int | None = None
    ) -> Generator[str, bool, None]:
        """Lines of the service's log file (stdout and stderr, rotated by size). Following
        ends when the service ends or when the caller sends ``True`` (ZenML's way)."""
        if self.status.log_file is None:
            return
        path = Path(self.status.log_file)
        lines: Iterator[str]
        if follow:
            from plugin_core.logs import follow_lines

            lines = follow_lines(path, tail=tail, keep_going=self._process_alive)
        else:
            lines = saved_log_lines(path, tail)
        for line in lines:
            if (yield line):
                return

    def runtime_files(self) -> RuntimeFiles | None:
        """The runtime directory: definition, supervisor spec and record, log, stop request."""
        return RuntimeFiles.recorded(self.status.runtime_path, self.config.singleton)

    @classmethod
    def leftover_activity(cls, directory: Path) -> str:
        """A supervisor or service process that the directory's ``state.json`` names and that
        still runs (checked by pid and start time, so a reused pid is not mistaken for it)."""
        for role, identity in cls._recorded_processes(directory):
            if identity.is_alive():
                return f"{role} process {identity.pid} still runs; stop it before pruning"
        return ""

    @classmethod
    def leftover_processes(cls, directory: Path) -> "list[ProcessIdentity]":
        """The supervisor and service processes the directory's ``state.json`` names that still
        run (by pid and start time)."""
        return [identity for _, identity in cls._recorded_processes(directory) if identity.is_alive()]

    @staticmethod
    def _recorded_processes(directory: Path) -> "list[tuple[str, ProcessIdentity]]":
        """(role, identity) of the supervisor and service processes ``state.json`` records."""
        from plugin_core.observation import supervisor_record
        from plugin_core.processes import ProcessIdentity

        record = supervisor_record(str(directory), None)
        found = []
        for role in ("supervisor", "child"):
            pid, token = record.get(f"{role}_pid"), record.get(f"{role}_token")
            if isinstance(pid, int) and isinstance(token, str):
                found.append((role, ProcessIdentity(pid, token)))
        return found

    def prediction_path(self) -> str:
        """``config.prediction_path``."""
        return self.config.prediction_path

    def runtime_facts(self) -> dict[str, Any]:
        """The service's pid, its supervisor's, and how often the supervisor restarted it."""
        status = self.status
        return {"pid": status.pid, "supervisor_pid": status.supervisor_pid,
                "restarts": status.restarts}

    def restart_policy(self) -> RestartPolicy:
        """``config.restart``: the supervisor applies it."""
        return self.config.restart

    # -- helpers --------------------------------------------------------------------------------

    def _supervisor_spec(self, runtime: Path) -> dict[str, Any]:
        import shutil

        argv = self.daemon_argv()
        if not argv or not shutil.which(argv[0], path=self.config.env.get("PATH")):
            raise DaemonSpawnError(
                f"Service {self.config.service_name!r}: cannot run {argv[:1]!r}: "
                "the program was not found on PATH; give its full path in `command`."
            )
        return {
            "argv": argv,
            "cwd": self.daemon_cwd(),
            "log_path": self.status.log_file,
            "log_max_bytes": self.config.log_max_bytes,
            "log_backups": self.config.log_backups,
            "restart": self.config.restart.model_dump(),
            "grace": self.config.stop_grace_period,
            "state_path": str(runtime / SUPERVISOR_STATE_FILE),
            "stop_path": str(runtime / STOP_REQUEST_FILE),
        }

    def _supervisor_record(self) -> dict[str, Any]:
        return read_supervisor_record(self.status)

    def _supervisor(self) -> "ProcessIdentity | None":
        from plugin_core.processes import ProcessIdentity

        if self.status.supervisor_pid is None or self.status.supervisor_token is None:
            return None
        return ProcessIdentity(self.status.supervisor_pid, self.status.supervisor_token)

    def _child(self, record: dict[str, Any] | None = None) -> "ProcessIdentity | None":
        record = self._supervisor_record() if record is None else record
        pid, token = record.get("child_pid"), record.get("child_token")
        if not isinstance(pid, int) or not isinstance(token, str):
            return None
        from plugin_core.processes import ProcessIdentity

        return ProcessIdentity(pid, token)

    def _process_alive(self) -> bool:
        supervisor = self._supervisor()
        return supervisor is not None and supervisor.is_alive()


def http_endpoint(
    port: int | None = None,
    *,
    health_path: str = "/",
    host: str = "127.0.0.1",
    allocate_port: bool = True,
    probe: Any = None,
) -> SupervisedEndpoint:
    """An HTTP endpoint with an HTTP health monitor on ``health_path``: the common case."""
    from plugin_core.backends.endpoints import http_endpoint_of

    return http_endpoint_of(
        SupervisedEndpoint, ServiceEndpointConfig, port=port,
        health_path=health_path, host=host, allocate_port=allocate_port, probe=probe,
    )

