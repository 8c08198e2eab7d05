"""The one state judgement, on plain values: what a look at a service means.

:class:`~plugin_core.backends.supervised.SupervisedService` (``check_status``),
:mod:`plugin_core.health` (a probe against the policy's thresholds) and
:mod:`plugin_core.hosts` (which host may look) call these functions with their models;
``outlive list`` calls them with the registry row's documents, so a listing that never
imports pydantic judges by the same rules, not by a copy of them.

Functions take a *status*: any object with the status document's fields as attributes (a
pydantic status model, or a plain namespace over the stored JSON), set them as a look
requires, and return ``(ServiceState, reason)``. Nothing here imports pydantic.
"""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each string again for every subclass. See plugin_core.model.deferred.

import functools
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from plugin_core.backends.runtime_dir import STOP_REQUEST_FILE, SUPERVISOR_STATE_FILE
from plugin_core.model.state import ServiceState
from plugin_core.paths import read_small_file

if TYPE_CHECKING:
    from plugin_core.processes import ProcessIdentity

Relation = Literal["here", "ended", "elsewhere"]


class Host(Protocol):
    """A launch's owner host (:class:`~plugin_core.hosts.HostIdentity`, or :class:`HostFacts`)."""

    @property
    def hostname(self) -> str: ...
    @property
    def machine_id(self) -> str: ...
    @property
    def boot_id(self) -> str: ...
    @property
    def pid_namespace(self) -> str: ...


class HostFacts(NamedTuple):
    """The facts of a host, as :class:`~plugin_core.hosts.HostIdentity` holds them."""

    hostname: str
    machine_id: str = ""
    boot_id: str = ""
    pid_namespace: str = ""


class Probe(Protocol):
    """One health check's outcome (:class:`~plugin_core.model.monitors.ProbeResult`)."""

    @property
    def ok(self) -> bool: ...
    @property
    def detail(self) -> str: ...


# -- hosts ----------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        link = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return ""
    return link.partition("[")[2].rstrip("]")


@functools.lru_cache(maxsize=1)
def this_host_facts() -> HostFacts:
    """The host (boot, PID namespace) this process runs on."""
    return HostFacts(
        hostname=os.uname().nodename,  # gethostname(2); the socket module is not needed for it
        machine_id=_read("/etc/machine-id") or _read("/var/lib/dbus/machine-id"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
        pid_namespace=_pid_namespace(),
    )


def host_relation(owner: Host | None) -> Relation:
    """How a process launched on ``owner`` relates to this host (None: recorded before owners
    were kept, treated as local, which is what every earlier version assumed)."""
    here = this_host_facts()
    if owner is None or (owner.boot_id, owner.pid_namespace) == (here.boot_id, here.pid_namespace):
        return "here"  # the same pids are visible, whatever the host is called now
    same_machine = (owner.hostname, owner.machine_id) == (here.hostname, here.machine_id)
    if same_machine and owner.machine_id and owner.boot_id != here.boot_id:
        return "ended"
    return "elsewhere"


def describe_host(host: Host) -> str:
    """``host-a (boot 60e7b227, pid namespace 4026531836)``: for messages."""
    facts = [f"boot {host.boot_id[:8]}" if host.boot_id else ""]
    facts.append(f"pid namespace {host.pid_namespace}" if host.pid_namespace else "")
    shown = ", ".join(fact for fact in facts if fact)
    return f"{host.hostname} ({shown})" if shown else host.hostname


def host_facts(document: Any) -> HostFacts | None:
    """A stored ``owner_host`` document as facts; None when it is not one (a corrupt record is
    reported by the registry itself)."""
    if not isinstance(document, dict) or not set(document) <= set(HostFacts._fields):
        return None
    if "hostname" not in document or not all(isinstance(v, str) for v in document.values()):
        return None
    return HostFacts(**document)


# -- a status and a probe -------------------------------------------------------------------------


def update_state(status: Any, new_state: ServiceState | None = None, error: str = "") -> None:
    """Move ``status`` to ``new_state`` (if given), remembering the previous one; record ``error``
    (sticky, as in ZenML)."""
    if new_state is not None and new_state != status.state:
        status.last_state = status.state
        status.state = new_state
    if error:
        change(status, "last_error", error)


def change(status: Any, field: str, value: Any) -> None:
    """Set ``status.field`` to ``value`` unless it holds that already: a model validates every
    assignment (a few microseconds each), and a look at a healthy service changes one field."""
    if getattr(status, field) != value:
        setattr(status, field, value)


def observe_once(
    status: Any,
    endpoint_status: Any | None,
    check: Callable[[], tuple[ServiceState, str]],
    probe: Callable[[], Probe],
    thresholds: Callable[[], tuple[int, int]],
) -> ServiceState:
    """One look: the backend's ``check``, then (when it says ACTIVE and there is an endpoint)
    one ``probe`` judged with ``thresholds`` (success, failure); the outcome is recorded in
    ``status`` (and ``endpoint_status``). Returns the new state."""
    state, message = check()
    if state == ServiceState.ACTIVE and endpoint_status is not None:
        state, message = judge_probe(status, endpoint_status, probe(), *thresholds())
    elif state != ServiceState.ACTIVE and endpoint_status is not None:
        update_state(endpoint_status, ServiceState.INACTIVE)
    if state == ServiceState.ERROR:
        update_state(status, state, message)
    else:
        update_state(status, state)
        if message and state == ServiceState.PENDING_STARTUP:
            change(status, "last_probe", message)
    return state


def judge_probe(
    status: Any, endpoint_status: Any, result: Probe, success_threshold: int, failure_threshold: int
) -> tuple[ServiceState, str]:
    """Start-up and liveness judged apart: until ready once, a failed probe only means "not
    ready yet"; after that, ``failure_threshold`` failures in a row make it ERROR."""
    change(status, "last_probe", result.detail)
    if result.ok:
        status.consecutive_successes += 1
        change(status, "consecutive_failures", 0)
        if status.ready_once or status.consecutive_successes >= success_threshold:
            change(status, "ready_once", True)
            update_state(endpoint_status, ServiceState.ACTIVE)
            return ServiceState.ACTIVE, ""
        return ServiceState.PENDING_STARTUP, result.detail
    status.consecutive_failures += 1
    change(status, "consecutive_successes", 0)
    if not status.ready_once:
        return ServiceState.PENDING_STARTUP, result.detail
    if status.consecutive_failures >= failure_threshold:
        update_state(endpoint_status, ServiceState.ERROR, result.detail)
        return (
            ServiceState.ERROR,
            f"health check failed {status.consecutive_failures} times in a row: {result.detail}",
        )
    return ServiceState.ACTIVE, ""


def persisted_view(status: dict[str, Any]) -> dict[str, Any]:
    """The status facts worth a registry write (``status`` as its document). A healthy service
    probed healthy again only bumps its success counter (unused once ready) and rewrites the
    same probe text, so a status query of N healthy services writes nothing."""
    view = dict(status)
    view.pop("last_probe", None)
    if view.get("ready_once"):
        view.pop("consecutive_successes", None)
    return view


# -- a supervised local process -------------------------------------------------------------------


class Supervised(NamedTuple):
    """What the judgement of a supervised process needs from its service besides the status."""

    admin_state: ServiceState
    startsecs: float
    restart_mode: str
    monitored: bool  # its endpoint has a health monitor: readiness is the monitor's to judge


def judge_supervised(
    status: Any,
    service: Supervised,
    await_exit: Callable[[dict[str, Any]], dict[str, Any]],
) -> tuple[ServiceState, str]:
    """Judge by process identity and the supervisor's record, never by a bare pid.

    ``await_exit(record)`` gives the supervisor a moment to record the exit of a service
    process that just died (it returns the record read last)."""
    record = supervisor_record(status.runtime_path, status.supervisor_pid)
    change(status, "restarts", int(record.get("restarts") or 0))
    child = _identity(record.get("child_pid"), record.get("child_token"))
    child_alive = child is not None and child.is_alive()
    phase = record.get("phase")

    def supervisor_alive() -> bool:
        supervisor = _identity(status.supervisor_pid, status.supervisor_token)
        return supervisor is not None and supervisor.is_alive()

    if stop_was_requested(record, status.runtime_path, status.supervisor_pid):
        # Read first: a requested stop is never a crash, however its processes ended.
        if child_alive or supervisor_alive():
            return ServiceState.PENDING_SHUTDOWN, ""
        return judge_ended(status, {**record, "phase": "stopped"}, service.admin_state)
    if child is not None and child.pid != status.child_pid:
        # A restarted process must prove readiness again, whatever its predecessor did.
        status.child_pid = child.pid
        status.ready_once = False
        status.consecutive_successes = status.consecutive_failures = 0
    if child_alive and phase in ("running", None):
        return judge_uptime(status, record, service)  # the supervisor's liveness is not needed
    if supervisor_alive():
        if phase == "running" and child is not None and not child_alive:
            record = await_exit(record)
            phase = record.get("phase")
        if phase in ("exited", "failed", "stopped"):
            return judge_ended(status, record, service.admin_state)
        if phase == "running":
            # The supervisor still has not recorded the exit; a dead process is not starting.
            if service.restart_mode == "never":
                return ServiceState.ERROR, "the service process ended"
            return ServiceState.PENDING_STARTUP, "the service process ended; restarting"
        if phase == "backoff":
            return ServiceState.PENDING_STARTUP, str(record.get("reason", "restarting"))
        if phase == "stopping":
            return ServiceState.PENDING_SHUTDOWN, ""
        return ServiceState.PENDING_STARTUP, "process starting"
    if phase == "running":  # read before the supervisor recorded the exit and ended
        record = supervisor_record(status.runtime_path, status.supervisor_pid)
    return judge_ended(status, record, service.admin_state)


def supervisor_record(runtime_path: str | None, supervisor_pid: int | None) -> dict[str, Any]:
    """The supervisor's ``state.json`` in ``runtime_path`` for the run of ``supervisor_pid``, or
    {} (none yet, or left by an earlier run)."""
    import json  # here: defining a service class should not pay for it

    if not runtime_path:
        return {}
    text = read_small_file(os.path.join(runtime_path, SUPERVISOR_STATE_FILE))
    if text is None:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(record, dict):
        return {}
    if supervisor_pid is not None and record.get("supervisor_pid") != supervisor_pid:
        return {}
    return record


def _identity(pid: Any, token: Any) -> "ProcessIdentity | None":
    """The process recorded as ``pid`` with start ``token``, if both are recorded."""
    from plugin_core.processes import ProcessIdentity

    if isinstance(pid, int) and isinstance(token, str):
        return ProcessIdentity(pid, token)
    return None


def judge_uptime(
    status: Any, record: dict[str, Any], service: Supervised
) -> tuple[ServiceState, str]:
    """Without a health monitor, a process counts as started once it has stayed up
    ``startsecs`` (as supervisord does), so a crash right after launch is not ACTIVE."""
    if service.monitored or status.ready_once:
        return ServiceState.ACTIVE, ""
    uptime = time.time() - float(record.get("child_started_at") or 0.0)
    if uptime < service.startsecs:
        return (
            ServiceState.PENDING_STARTUP,
            f"process up for {uptime:.2f}s of {service.startsecs:g}s",
        )
    status.ready_once = True
    return ServiceState.ACTIVE, ""


def judge_ended(
    status: Any, record: dict[str, Any], admin_state: ServiceState
) -> tuple[ServiceState, str]:
    """The processes are gone (or were asked to go): a stop, a normal end or a crash."""
    phase, code = record.get("phase"), record.get("exit_code")
    if code is not None:
        change(status, "exit_code", int(code))
    if phase == "stopped" or (status.supervisor_pid is None and not record):
        return ServiceState.INACTIVE, ""
    if admin_state == ServiceState.INACTIVE and phase in ("exited", "failed"):
        return ServiceState.INACTIVE, str(record.get("reason", ""))
    if phase == "exited" and code == 0:
        return ServiceState.INACTIVE, str(record.get("reason", ""))  # run() returned
    if phase in ("exited", "failed"):
        return ServiceState.ERROR, str(record.get("reason", "service exited"))
    return ServiceState.ERROR, "the service's processes are gone and left no exit record"


def stop_was_requested(
    record: dict[str, Any], runtime_path: str | None, supervisor_pid: int | None
) -> bool:
    """A stop was asked for this run: the supervisor recorded it, or a stopper wrote it."""
    if record.get("stop_requested") or record.get("phase") == "stopped":
        return True
    if not runtime_path:
        return False
    request = read_small_file(os.path.join(runtime_path, STOP_REQUEST_FILE))
    if request is None:
        return False
    fields = request.decode().split()
    target = fields[1] if len(fields) > 1 else "-"
    return supervisor_pid is None or target == str(supervisor_pid)


# -- addresses ------------------------------------------------------------------------------------


def endpoint_uri(protocol: str, hostname: str | None, port: int | None) -> str | None:
    """``protocol://hostname:port``, or None before a port is known."""
    if not hostname or not port:
        return None
    host = f"[{hostname}]" if ":" in hostname else hostname
    return f"{protocol}://{host}:{port}"


def joined_path(uri: str, path: str) -> str:
    """``uri`` plus ``path`` (a leading slash added when it has none)."""
    if path and not path.startswith("/"):
        path = "/" + path
    return uri + path


def healthcheck_uri(uri: str, path: str) -> str:
    """The URL an HTTP monitor probes: the endpoint's ``uri`` and the health ``path``."""
    if path and not path.startswith("/"):
        path = "/" + path
    return uri.rstrip("/") + (path or "/")


def probe_timeout(own: float, policy_timeout: float, limit: float | None) -> float:
    """A monitor's probe timeout: its own, within the policy's, cut to a caller's ``limit``."""
    bound = min(own, policy_timeout)
    return max(min(bound, limit), 0.001) if limit is not None else bound


def accepted_codes(codes: Any, code: int) -> set[int]:
    """The status codes an HTTP monitor counts as healthy: ``codes`` if given, else ``code``."""
    return set(codes) if codes else {code}


LABEL_FIELDS = ("name", "pipeline_name", "pipeline_step_name", "model_name", "model_version")


def service_labels(config: Mapping[str, Any]) -> dict[str, str]:
    """Labels to find a service by: its config's non-empty identity fields plus its ``labels``."""
    labels = {field: str(config[field]) for field in LABEL_FIELDS if config[field]}
    labels.update(config["labels"])
    return labels
