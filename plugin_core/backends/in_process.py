"""``blocking=True``: a LocalDaemonService whose ``run()`` runs in the calling process.

ZenML offers this for systems without daemons. The caller's process is recorded as both the
supervisor and the service process, in the same ``state.json`` a supervisor writes, so other
processes (``outlive list``, ``outlive stop``) judge and stop it with the usual rules; when
``run()`` ends, the record says how (a normal return: INACTIVE, exit code 0; an exception:
ERROR with the reason, and the exception propagates to the caller), and names no process any
more, since the caller lives on.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugin_core.errors import ConcurrentUpdateError, RegistryError
from plugin_core.model.state import ServiceState
from plugin_core.paths import write_private
from plugin_core.ports import release_ports
from plugin_core.processes import identity_of

if TYPE_CHECKING:
    from plugin_core.backends.local import LocalDaemonService


def record_in_process_run(service: LocalDaemonService, runtime: Path) -> None:
    """Record this process as the one running ``service`` (called by its ``provision()``)."""
    from plugin_core.backends.local import SERVICE_CONFIG_FILE

    me = identity_of(os.getpid())
    assert me is not None
    service.status.supervisor_pid, service.status.supervisor_token = me.pid, me.token
    write_private(runtime / SERVICE_CONFIG_FILE, service.to_json(), durable=False)
    _write_record(service, runtime, phase="running")


def run_in_process(service: LocalDaemonService) -> None:
    """Call ``service.run()`` here and record how it ended; its exception propagates."""
    assert service.status.runtime_path is not None
    code, reason = 0, "run() returned"
    try:
        service.run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        reason = f"run() exited with exit code {code}"
        raise
    except BaseException as exc:
        code, reason = 1, f"run() raised {exc!r}"
        raise
    finally:
        # This process goes on after run(): the record must no longer name it, or a later stop
        # (or a cleanup) would signal the caller and its children.
        service.status.supervisor_pid = service.status.supervisor_token = None
        _write_record(
            service, Path(service.status.runtime_path), phase="exited", exit_code=code, reason=reason
        )
        release_ports(str(service.uuid))
        service.status.exit_code = code
        if code == 0:
            service.admin_state = ServiceState.INACTIVE
            service.status.update_state(ServiceState.INACTIVE)
        else:
            service.status.update_state(ServiceState.ERROR, reason)
        _save_over_observers(service)


def _write_record(service: LocalDaemonService, runtime: Path, **facts: Any) -> None:
    from plugin_core.backends.local import SUPERVISOR_STATE_FILE

    pid, token = service.status.supervisor_pid, service.status.supervisor_token
    record = {
        "supervisor_pid": pid, "supervisor_token": token, "child_pid": pid,
        "child_token": token, "child_started_at": time.time(), "restarts": 0,
        "exit_code": None, "reason": "", "in_process": True, **facts,
    }  # fmt: skip
    write_private(runtime / SUPERVISOR_STATE_FILE, json.dumps(record), durable=False)


def _save_over_observers(service: LocalDaemonService) -> None:
    """Save the outcome even if an observer (``outlive list``) saved a refresh meanwhile."""
    registry = service.registry
    if registry is None:
        return
    try:
        try:
            registry.save(service)
        except ConcurrentUpdateError:
            service.registry_version = registry.get_record(str(service.uuid)).version
            registry.save(service)
    except RegistryError:
        pass  # the record caches what the files say; the next refresh corrects it
