"""Every error outlive raises on purpose, in one place.

The tree, so a caller can catch exactly what it can handle::

    OutliveError
    ├── ConfigError                 a definition or argument is wrong; fix the input
    │   └── UnknownServiceTypeError a stored ``type`` names a class we cannot import
    ├── RegistryError               the service registry could not answer
    │   ├── ServiceNotFoundError
    │   ├── DuplicateServiceError
    │   ├── ConcurrentUpdateError   someone else wrote the record first; reload and retry
    │   └── CorruptRecordError      one record cannot be read; the others still can
    ├── LifecycleError              a start, stop or update did not do what was asked
    │   ├── StartTimeoutError       (also a ``TimeoutError``)
    │   ├── ServiceFailedError      the service died or its health checks failed
    │   ├── ServiceConfigConflictError
    │   └── ServiceOnOtherHostError its processes run on another host; act there
    └── BackendError                the thing that runs services refused
        ├── DaemonSpawnError
        ├── PortInUseError
        └── ContainerEngineError

The workflow service adds its own leaves under ``ConfigError`` and ``BackendError``
in :mod:`plugin_core.workflow.errors` (it is an optional extra).

Exceptions carry their facts as attributes (``service_name``, ``exit_code``,
``log_tail``...) so that adapters never parse a message.
"""

from __future__ import annotations

from collections.abc import Sequence


class OutliveError(Exception):
    """Root of every error outlive raises on purpose."""


class ConfigError(OutliveError, ValueError):
    """A service definition or an argument is invalid; the message names the field and the fix."""


class UnknownServiceTypeError(ConfigError):
    """A serialised model names a ``type`` that cannot be turned back into a class."""

    def __init__(self, type_name: str, reason: str = "") -> None:
        self.type_name = type_name
        hint = (
            f"Unknown service model type {type_name!r}{': ' + reason if reason else ''}. "
            "Make the class importable by that dotted path (define it at the top level of a "
            "module or of a script file, not in a function, a notebook or `python -c`), or "
            "register it under the entry point group 'outlive.services' in your package metadata."
        )
        super().__init__(hint)


class RegistryError(OutliveError):
    """The service registry could not be read or written."""


class ServiceNotFoundError(RegistryError, LookupError):
    """No service with that name or uuid is registered."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"No service named or with uuid {key!r} in the registry. "
            "Run `outlive list` to see the registered services."
        )


class DuplicateServiceError(RegistryError):
    """A different service already holds that unique name."""


class ConcurrentUpdateError(RegistryError):
    """The record changed since it was read; reload it and apply the change again.

    ``read_version`` is the version the caller's change was based on; ``current_version`` and
    ``current_state`` describe the record now (None: it was deleted), and ``current`` is the
    current service when the caller that raised had it loaded.
    """

    def __init__(
        self,
        message: str,
        *,
        service_name: str = "",
        read_version: int | None = None,
        current_version: int | None = None,
        current_state: str | None = None,
        current: object = None,
    ) -> None:
        self.service_name = service_name
        self.read_version = read_version
        self.current_version = current_version
        self.current_state = current_state
        self.current = current
        super().__init__(message)


class CorruptRecordError(RegistryError):
    """One registry record cannot be decoded. Other records stay readable.

    ``fix`` replaces the default advice (delete the record) when the reason already says
    what to do, e.g. for a record a newer outlive wrote, which must not be deleted."""

    def __init__(self, name: str, uuid: str, reason: str, fix: str | None = None) -> None:
        self.service_name = name
        self.uuid = uuid
        self.reason = reason
        headline = "is corrupted and cannot be loaded" if fix is None else "cannot be loaded"
        if fix is None:
            fix = f"Delete it with `outlive delete {name} --force` and start the service again."
        super().__init__(
            f"Registry record {name!r} ({uuid}) {headline}: {reason.rstrip('.')}. {fix}".rstrip()
        )


class LifecycleError(OutliveError):
    """A lifecycle operation did not reach the state that was asked for."""

    def __init__(
        self,
        message: str,
        *,
        service_name: str = "",
        state: str = "",
        last_probe: str = "",
        exit_code: int | None = None,
        log_tail: Sequence[str] = (),
    ) -> None:
        self.service_name = service_name
        self.state = state
        self.last_probe = last_probe
        self.exit_code = exit_code
        self.log_tail = list(log_tail)
        details = [message]
        if last_probe:
            details.append(f"last health check: {last_probe}")
        if exit_code is not None:
            details.append(f"exit: {describe_exit(exit_code)}")
        if self.log_tail:
            details.append("last log lines:\n  " + "\n  ".join(self.log_tail))
        super().__init__("\n".join(details))

    @property
    def reason(self) -> str:
        """The first line of the message: what went wrong, without the log tail."""
        return str(self).splitlines()[0]


class StartTimeoutError(LifecycleError, TimeoutError):
    """The service did not become ACTIVE within the timeout."""


class ServiceFailedError(LifecycleError):
    """The service process died or its health checks failed past the threshold."""


class ServiceConfigConflictError(LifecycleError):
    """A service of that name runs with a different config and the caller chose not to replace it."""


class ServiceOnOtherHostError(LifecycleError):
    """The service's processes cannot be reached from this host: a local process can be
    signalled only from the host that launched it, a container only through its engine."""

    def __init__(self, service_name: str, action: str, *, reason: str, owner: str, here: str) -> None:
        self.owner_host = owner
        self.this_host = here
        super().__init__(
            f"Cannot {action} service {service_name!r} from this host ({here}): {reason}. "
            f"Run the command on {owner.split(' ')[0]}, the host that started it; if that host "
            f"is gone for good, `outlive delete {service_name} --force` removes the record.",
            service_name=service_name,
        )


class BackendError(OutliveError):
    """The machinery that runs services (processes, ports, a container engine) refused."""


class DaemonSpawnError(BackendError):
    """The service process could not be launched."""


class PortInUseError(BackendError):
    """The requested port is taken and automatic allocation is off."""

    def __init__(self, port: int, host: str) -> None:
        self.port = port
        self.host = host
        super().__init__(
            f"Port {port} on {host} is already in use. Free it, choose another `port`, "
            "or set `allocate_port=True` to let outlive pick a free one."
        )


class ContainerEngineError(BackendError):
    """The container engine is unreachable or refused a request."""


def describe_exit(code: int) -> str:
    """Turn a ``returncode`` into words: negative codes are signals, as in ``subprocess``."""
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exit code {code}"
