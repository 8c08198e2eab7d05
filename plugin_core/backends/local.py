"""``LocalDaemonService``: a service run as a detached local process that outlives its starter.

Subclass it and implement :meth:`LocalDaemonService.run`, as with ZenML; ``start()``
launches the supervisor (:mod:`plugin_core.backends.supervised`) in a new session,
which runs ``python -m plugin_core.backends._daemon`` to load the service back from
its config file and call ``run()``; a starter that is safe to fork (one thread) forks itself
instead, and the fork loads the service from the same file and calls ``run()`` without
importing anything again (:mod:`plugin_core.fork_launch`).
:class:`~plugin_core.backends.command.CommandService`
shares the supervised base to run any program instead of ``run()``.

A subclass defined in the script being run (``__main__``) works too: its stored type names
the script's path, and the daemon loads that script as ``__mp_main__``, as ``multiprocessing``
does. ``blocking=True`` runs ``run()`` in the calling process instead (ZenML's fallback for
systems without daemons).
"""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

import os
import sys
from collections.abc import Callable
from typing import ClassVar

from pydantic import Field

from plugin_core.backends.supervised import (
    SERVICE_CONFIG_FILE,
    SERVICE_LOG_FILE,
    SERVICE_PID_FILE,
    STOP_REQUEST_FILE,
    SUPERVISOR_SPEC_FILE,
    SUPERVISOR_STATE_FILE,
    SUPERVISOR_STOP_MARGIN,
    SupervisedEndpoint,
    SupervisedService,
    SupervisedServiceConfig,
    SupervisedServiceStatus,
    http_endpoint as http_endpoint,
    read_supervisor_record,
)
from plugin_core.model.duck_serialized import DuckSerialized
from plugin_core.model.endpoint import ServiceEndpointConfig, ServiceEndpointStatus
from plugin_core.model.service_type import ServiceType
from plugin_core.model.typed import reloading_script

__all__ = [
    "SERVICE_CONFIG_FILE", "SERVICE_LOG_FILE", "SERVICE_PID_FILE", "STOP_REQUEST_FILE",
    "SUPERVISOR_SPEC_FILE", "SUPERVISOR_STATE_FILE", "SUPERVISOR_STOP_MARGIN",
    "LocalDaemonService", "LocalDaemonServiceConfig", "LocalDaemonServiceEndpoint",
    "LocalDaemonServiceEndpointConfig", "LocalDaemonServiceEndpointStatus",
    "LocalDaemonServiceStatus", "http_endpoint", "read_supervisor_record",
]


class LocalDaemonServiceConfig(SupervisedServiceConfig):
    """How to run the daemon: where its files live, its logs, restarts and grace period, and
    (``blocking``) whether ``run()`` runs in the calling process instead.

    ``secret_env`` values reach the process through its environment only: they are
    excluded from every file and registry record.
    """

    blocking: bool = False


# ZenML's names for the status and endpoint models. They add nothing to the supervised ones, so
# they are those classes, not subclasses: every model class costs its definition on each import
# (every daemon start, CLI call and DAG parse; see bench/bench_import.py), and a subclass that
# adds nothing would also store a second name for the same data. Records that name the old
# classes ("outlive.local-daemon-status", ...) still load: type_names maps them here.
# ``class MyStatus(LocalDaemonServiceStatus)`` and isinstance checks work as with ZenML.
LocalDaemonServiceStatus = SupervisedServiceStatus
LocalDaemonServiceEndpointConfig = ServiceEndpointConfig
LocalDaemonServiceEndpointStatus = ServiceEndpointStatus
LocalDaemonServiceEndpoint = SupervisedEndpoint


class LocalDaemonService(SupervisedService):
    """A service run by a detached local process. Subclass it and implement :meth:`run`."""

    SERVICE_TYPE: ClassVar[ServiceType] = ServiceType(
        type="local", flavor="daemon", name="Local daemon", description="A local process"
    )

    config: DuckSerialized[LocalDaemonServiceConfig] = Field(
        default_factory=LocalDaemonServiceConfig
    )

    def run(self) -> None:
        """The service's work, run inside the daemon process until it returns or is stopped."""
        raise NotImplementedError(f"{type(self).__name__} must implement run()")

    def start(self, timeout: float | None = None) -> None:
        """Start the daemon and wait (see :meth:`BaseService.start`); with ``blocking=True``,
        run :meth:`run` here instead and return when it does, as ZenML does."""
        if not self.config.blocking or reloading_script():
            super().start(timeout)
            return
        from plugin_core.backends.in_process import run_in_process
        from plugin_core.lifecycle import start_service

        self._adopt(start_service(self, registry=self._registry, wait=False))
        if self.status.supervisor_pid == os.getpid():  # else the same service already runs
            run_in_process(self)


    # -- what the supervisor runs ---------------------------------------------------------------

    def daemon_argv(self) -> list[str]:
        """The program the supervisor runs: the daemon entrypoint loading this service."""
        assert self.status.config_file is not None
        return [sys.executable, "-m", "plugin_core.backends._daemon", self.status.config_file]

    def daemon_in_fork(self) -> Callable[[], int]:
        """The daemon entrypoint as a function: a starter safe to fork gets the daemon by
        forking itself (its imports are done), which then loads this service from the same
        config file (see :mod:`plugin_core.fork_launch`)."""
        import functools

        from plugin_core.backends import _daemon

        assert self.status.config_file is not None
        return functools.partial(_daemon.run_in_fork, self.status.config_file)

    def daemon_env(self) -> dict[str, str]:
        """Extra environment for the daemon: its config's env, secrets, and an import path
        that finds the service's own module from the runtime directory."""
        from plugin_core.backends.loadable import module_root

        env = super().daemon_env()
        root = module_root(type(self))
        if root:
            existing = env.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, existing) if p)
        return env

    def check_importable(self) -> None:
        """Refuse early what the daemon could not load back: a class defined inside a function,
        or in ``__main__`` without a script file, or not at the top level of its script."""
        from plugin_core.backends.loadable import require_loadable

        require_loadable(self, "the daemon")


    def provision(self) -> None:
        """Launch the supervisor (which launches the daemon) and record its identity.

        With ``blocking=True`` nothing is launched: the calling process is recorded as the
        one running the service, and :meth:`start` then calls :meth:`run` itself."""
        if not self.config.blocking:
            self.check_importable()
            super().provision()
            return
        from plugin_core.backends.in_process import record_in_process_run

        record_in_process_run(self, self.prepare_launch().path)
