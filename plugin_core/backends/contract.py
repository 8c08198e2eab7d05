"""The backend contract: everything the lifecycle, prune, snapshots and the CLI ask of a backend.

A backend is a :class:`~plugin_core.service.BaseService` subclass; what makes it one is this
class, which ``BaseService`` inherits. The core calls these methods and nothing else of a
backend (no field of its config or status is read by name), so a backend that keeps its
grace period, its files or its address under other names loses nothing.

What a backend must implement (ZenML's four)::

    provision()                    bring the process / container / app up, without waiting
    deprovision(force)             take it down (force: no grace period)
    check_status()                 (state, reason) as the backend sees it now
    get_logs(follow, tail)         its log lines

What it may override (the defaults suit a backend with no files, no address of its own and
one host)::

    deprovision_within(timeout, force)  a stop that must be over within ``timeout`` seconds
    hand_over(successor)                make way for a new definition (default: deprovision)
    reach_problem()                     why this host cannot reach it (HOST_BOUND = False)
    log_tail(lines)                     the last lines, or none when they cannot be read
    runtime_files()                     the directory of its own files, if it keeps any
    discard_runtime_files()             remove them once the record is deleted (delete, prune)
    leftover_activity(directory)        what still runs from a directory no record names (prune)
    leftover_processes(directory)       the processes it names there, by identity (prune stops them)
    prediction_path()                   the path requests go to, below the endpoint's URI
    runtime_facts()                     pids, container ids... for ``service_info`` / ``list``
    restart_policy()                    the restarts it applies itself, if any (the watcher)

And what it may reuse, so no backend copies another's helpers: :func:`bounded_grace` (the stop
cap), :mod:`.runtime_dir` (runtime directory, definition file, saved log), :mod:`.templating`
(``{port}``/``{host}``), :mod:`.loadable` (can another process load this class back) and
:mod:`.endpoints` (the HTTP endpoint factory). A backend imports another backend's public
names only; ``tests/core/test_public_api.py`` pins it.
"""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each string again for every subclass. See plugin_core.model.deferred.

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, ClassVar

from plugin_core.errors import BackendError
from plugin_core.model.state import ServiceState

if TYPE_CHECKING:
    from pathlib import Path

    from plugin_core.backends.runtime_dir import RuntimeFiles
    from plugin_core.model.restart import RestartPolicy
    from plugin_core.processes import ProcessIdentity
    from plugin_core.service import BaseService


def bounded_grace(configured: float, timeout: float | None = None, force: bool = False) -> float:
    """The grace period of one stop: none when forced, else the configured one, cut to the
    caller's ``timeout`` (None: no cut). Nothing of the cut is saved."""
    if force:
        return 0.0
    return configured if timeout is None else min(configured, max(timeout, 0.0))


class ServiceBackend:
    """The methods the core calls on any service (see the module docstring for the list)."""

    #: True when the service's processes can be seen and signalled only from the host that
    #: launched them (local processes); False when they are reached through something hosts
    #: share (a container engine, a cluster): then :meth:`reach_problem` decides.
    HOST_BOUND: ClassVar[bool] = False

    # -- must implement ------------------------------------------------------------------------

    def provision(self) -> None:
        """Bring the service's process or container up (without waiting for health)."""
        raise NotImplementedError(f"{type(self).__name__} must implement provision()")

    def deprovision(self, force: bool = False) -> None:
        """Take the service's process or container down; ``force`` skips the grace period."""
        raise NotImplementedError(f"{type(self).__name__} must implement deprovision()")

    def check_status(self) -> tuple[ServiceState, str]:
        """The backend's view: is the service's process or container there, and if not, why."""
        raise NotImplementedError(f"{type(self).__name__} must implement check_status()")

    def get_logs(
        self, follow: bool = False, tail: int | None = None
    ) -> Generator[str, bool, None]:
        """The service's log lines: the last ``tail`` lines, then new ones while ``follow``
        (until the service ends, or the caller sends ``True``, as in ZenML)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_logs()")

    # -- may override --------------------------------------------------------------------------

    def deprovision_within(self, timeout: float, force: bool = False) -> None:
        """Take the service down for a stop that should be over within ``timeout`` seconds.

        Backends with a grace period shorten it with :func:`bounded_grace` for this stop only.
        The default ignores ``timeout``, so a backend written ZenML's way implements
        :meth:`deprovision` alone."""
        self.deprovision(force=force)

    def hand_over(self, successor: "BaseService") -> None:
        """Make way for ``successor``, a new definition under this name about to be
        provisioned. By default the old one is deprovisioned first; a backend that can apply
        the change in place (a cluster that scales or rolls replicas itself) keeps it."""
        self.deprovision()

    def reach_problem(self) -> str:
        """Why this process cannot reach the service's processes (empty: it can). Only asked
        of services that are not ``HOST_BOUND``; a backend reached through a shared engine
        says here when this host reaches another engine (see :mod:`plugin_core.hosts`)."""
        return ""

    def log_tail(self, lines: int = 50) -> list[str]:
        """The last ``lines`` log lines, or nothing when they cannot be read (no logs, files
        gone, the engine or cluster not answering): it feeds error reports, never masks one."""
        try:
            return list(self.get_logs(tail=lines))
        except (NotImplementedError, OSError, BackendError):
            return []

    def runtime_files(self) -> "RuntimeFiles | None":
        """The directory holding the service's own files (definition, logs, process records);
        None for a backend that keeps none."""
        return None

    def discard_runtime_files(self) -> None:
        """Remove the service's own files once its record is gone; a directory that other
        services share (a singleton's root) stays."""
        files = self.runtime_files()
        if files is not None:
            files.discard()

    @classmethod
    def leftover_activity(cls, directory: "Path") -> str:
        """What still runs from ``directory``, a runtime directory of this class that no record
        names any more (empty: nothing, so prune may sweep it). Asked by prune, which finds the
        class from the definition file the directory holds."""
        return ""

    @classmethod
    def leftover_processes(cls, directory: "Path") -> "list[ProcessIdentity]":
        """The live processes of this machine that ``directory`` (a runtime directory no record
        names) records as this service's, by identity: prune stops them. A marker scan finds
        most leftovers; not a daemon forked from its starter whose supervisor was killed, which
        carries no marker ``/proc`` shows and no marked ancestor any more."""
        return []

    def prediction_path(self) -> str:
        """The path below the endpoint's URI where requests go (empty: the URI itself)."""
        return ""

    def runtime_facts(self) -> dict[str, Any]:
        """What identifies the running thing (pids, a container id, restarts) for
        ``service_info`` and ``outlive list``: plain JSON values, None left out."""
        return {}

    def restart_policy(self) -> "RestartPolicy | None":
        """The restart policy the backend applies by itself, if it has one (the watcher then
        tells a crash it recovers from from one it gave up on)."""
        return None
