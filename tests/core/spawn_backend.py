"""A new backend in one module, written against the backend contract alone.

``SpawnedService`` runs a program as a plain detached child (no supervisor, no restarts): the
smallest thing that starts, is observed, logs and stops. Its fields are deliberately named
unlike the built-in backends' (``grace`` not ``stop_grace_period``, ``workdir`` not
``runtime_path``, ``route`` not ``prediction_path``), so the lifecycle can only find them
through the contract. ``tests/core/test_new_backend.py`` registers it under the type name
``spawn`` with an ``outlive.services`` entry point and drives it through start, status,
stop, prune and ``outlive list``; nothing in plugin_core names it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Generator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SerializeAsAny

from plugin_core import (
    BaseService,
    LocalDaemonServiceEndpoint,
    ServiceConfig,
    ServiceState,
    ServiceStatus,
    ServiceType,
)
from plugin_core.backends.contract import bounded_grace
from plugin_core.backends.runtime_dir import RuntimeFiles, saved_log_lines
from plugin_core.backends.templating import fill_address
from plugin_core.ports import release_ports
from plugin_core.processes import ProcessIdentity, identity_of, service_environment, stop_tree

LOG_FILE = "output.log"
PID_FILE = "process"


class SpawnedConfig(ServiceConfig):
    """The program (``{port}``/``{host}`` filled in), its grace period and its request path."""

    argv: list[str] = Field(min_length=1)
    grace: float = Field(default=5.0, ge=0)
    route: str = ""


class SpawnedStatus(ServiceStatus):
    """Where its files are and which process runs it."""

    workdir: str | None = None
    process_pid: int | None = None
    process_token: str | None = None


class SpawnedService(BaseService):
    """A program run as a detached child process of whoever started it."""

    SERVICE_TYPE: ClassVar[ServiceType] = ServiceType(type="test", flavor="spawn")
    HOST_BOUND: ClassVar[bool] = True

    config: SerializeAsAny[SpawnedConfig]
    status: SerializeAsAny[SpawnedStatus] = Field(default_factory=SpawnedStatus)
    endpoint: SerializeAsAny[LocalDaemonServiceEndpoint] | None = None

    def provision(self) -> None:
        files = RuntimeFiles.prepare(str(self.uuid))
        self.status.workdir = str(files.path)
        self.status.reset_for_launch()
        if self.endpoint is not None:
            self.endpoint.prepare_for_start(owner=str(self.uuid))
        files.write_definition(self)
        with open(files.path / LOG_FILE, "ab") as log:
            child = subprocess.Popen(
                [self._fill(part) for part in self.config.argv],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=files.path, start_new_session=True,
                env=service_environment({}, marker=str(self.uuid)),
            )
        identity = identity_of(child.pid)
        assert identity is not None
        self.status.process_pid, self.status.process_token = identity.pid, identity.token
        (files.path / PID_FILE).write_text(f"{identity.pid} {identity.token}")

    def deprovision(self, force: bool = False) -> None:
        self._stop(bounded_grace(self.config.grace, force=force))

    def deprovision_within(self, timeout: float, force: bool = False) -> None:
        self._stop(bounded_grace(self.config.grace, timeout, force))

    def check_status(self) -> tuple[ServiceState, str]:
        process = self._process()
        if process is not None and process.is_alive():
            return ServiceState.ACTIVE, ""
        if process is None or self.admin_state == ServiceState.INACTIVE:
            return ServiceState.INACTIVE, ""
        return ServiceState.ERROR, "the program ended"

    def get_logs(
        self, follow: bool = False, tail: int | None = None
    ) -> Generator[str, bool, None]:
        files = self.runtime_files()
        for line in saved_log_lines(files.path / LOG_FILE if files else None, tail):
            if (yield line):
                return

    def runtime_files(self) -> RuntimeFiles | None:
        return RuntimeFiles.recorded(self.status.workdir)

    @classmethod
    def leftover_activity(cls, directory: Path) -> str:
        try:
            pid, token = (directory / PID_FILE).read_text().split()
        except (OSError, ValueError):
            return ""
        alive = ProcessIdentity(int(pid), token).is_alive()
        return f"program {pid} still runs" if alive else ""

    def prediction_path(self) -> str:
        return self.config.route

    def runtime_facts(self) -> dict[str, Any]:
        return {"pid": self.status.process_pid}

    def _process(self) -> ProcessIdentity | None:
        pid, token = self.status.process_pid, self.status.process_token
        return ProcessIdentity(pid, token) if pid is not None and token is not None else None

    def _stop(self, grace: float) -> None:
        process = self._process()
        stop_tree([process] if process else [], grace=grace, marker=str(self.uuid))
        release_ports(str(self.uuid))
        self.status.process_pid = self.status.process_token = None

    def _fill(self, text: str) -> str:
        port = self.endpoint.status.port if self.endpoint is not None else None
        return fill_address(text, service_name=self.config.service_name, port=port, host="127.0.0.1")
