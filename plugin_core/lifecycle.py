"""Start, stop, update, find and wait: the one place where the lifecycle state machine lives.

Every adapter (Prefect tasks, Airflow operators, the CLI) calls these functions
and nothing else, so they all behave alike:

* start is idempotent by ``service_name``: the same config again returns the
  running service; a changed one is restarted (``on_change="restart"``) or
  refused (``"fail"``);
* a start that does not reach ACTIVE raises, with the last probe, the exit code
  and the log tail; the registry then says PENDING_STARTUP or ERROR, never ACTIVE;
* every transition is saved in the registry, as a compare-and-swap on the version read;
* the decision to reuse, replace, launch or stop is taken under the name's registry-wide
  claim (:meth:`ServiceRegistry.claim`), so callers on every host sharing the registry
  take turns, and a loser decides again on the winner's record;
* a local process is observed and signalled only from the host that launched it
  (:mod:`plugin_core.hosts`); other hosts report the state its owner recorded;
* every transition is reported once as a :class:`~plugin_core.events.ServiceEvent` (the
  events log, and the caller's ``on_event``): what the call did (``started``, ``reused``,
  ``restarted``, ``updated``, ``stopped``), then what it saw (``active``, or ``failed`` with
  the real state). A refused ``on_change="fail"`` start did nothing and reports nothing.
"""

from __future__ import annotations

import contextlib
import queue
import time
import uuid as uuid_module
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, overload

from plugin_core.errors import (
    BackendError,
    ConcurrentUpdateError,
    ConfigError,
    DuplicateServiceError,
    RegistryError,
    ServiceConfigConflictError,
    ServiceFailedError,
    ServiceNotFoundError,
    StartTimeoutError,
)
from plugin_core.events import EventCallback, EventLog, EventOutcome, ServiceEvent, report
from plugin_core.health import observe
from plugin_core.hosts import observable_here, observation_note, require_here, this_host
from plugin_core.model.config import ServiceConfig
from plugin_core.model.probe_policy import ProbePolicy
from plugin_core.model.state import ServiceState
from plugin_core.observation import persisted_view
from plugin_core.observer_pool import WORKERS, observer_pool
from plugin_core.readiness import ActiveWatch
from plugin_core.records import WRITE_ATTEMPTS, require_unchanged, reread, save_record
from plugin_core.registry.decoded import field_values
from plugin_core.registry.store import ServiceRegistry
from plugin_core.service import BaseService
from plugin_core.waiting import check_timeout, wait_until

ServiceRef = BaseService | str
OnChange = Literal["restart", "fail"]
Progress = Callable[[BaseService, float], None]


def _registry(
    registry: ServiceRegistry | None, service: BaseService | None = None
) -> ServiceRegistry:
    if registry is not None:
        return registry
    if service is not None and service.registry is not None:
        return service.registry
    return ServiceRegistry()


def _resolve(ref: ServiceRef, registry: ServiceRegistry) -> BaseService:
    if isinstance(ref, BaseService):
        if ref.registry_version is None:
            stored = registry.get_or_none(str(ref.uuid))
            return stored if stored is not None else ref
        return ref
    return registry.get(ref)


# -- start ---------------------------------------------------------------------------------------


def start_service(
    service: BaseService,
    *,
    registry: ServiceRegistry | None = None,
    timeout: float | None = None,
    on_change: OnChange = "restart",
    wait: bool = True,
    on_progress: Progress | None = None,
    on_event: EventCallback | None = None,
) -> BaseService:
    """Start ``service`` (or reuse the one of that name) and wait until it is ACTIVE.

    With ``wait=False`` it returns right after the launch (PENDING_STARTUP saved), for callers
    that wait elsewhere (a deferrable sensor); a launch that fails at once still raises.
    ``on_progress(service, elapsed)`` is called after each observation while waiting;
    ``on_event(event)`` with each event reported (``started``/``reused``/``restarted``, then
    ``active`` or ``failed``), so the caller can say which happened.
    """
    if timeout is not None:
        timeout = check_timeout(timeout)  # before anything is launched
    registry = _registry(registry, service)
    with registry.claim(service.config.service_name):
        target, did = _claim(service, registry, on_change, on_event=on_event)
    report(ServiceEvent.of(target, did), on_event)
    if not wait:
        return target
    return _await_active(target, registry, timeout, on_progress, on_event)


class _Reconsider(Exception):
    """The record changed between the read and the write of a decision: read and decide again."""


def _claim(
    service: BaseService,
    registry: ServiceRegistry,
    on_change: OnChange,
    replaced: EventOutcome = EventOutcome.RESTARTED,
    on_event: EventCallback | None = None,
) -> tuple[BaseService, EventOutcome]:
    """Decide, holding the name's claim, whether to reuse, replace or launch; launch if needed.

    Every decision is made on a read taken under the claim, so a caller that waited for the
    claim sees the winner's complete record (launched, with its process) and reuses it.
    Returns the service and what was done: ``reused``, ``replaced`` (a running service got a
    new definition: ``restarted``, or ``updated`` for update_service) or ``started``.
    """
    for _ in range(WRITE_ATTEMPTS):
        existing = registry.get_or_none(service.config.service_name)
        try:
            return _decide(service, existing, registry, on_change, replaced, on_event)
        except _Reconsider:
            continue
    raise ConcurrentUpdateError(
        f"Service {service.config.service_name!r} kept changing while it was being started; "
        "load it again and retry.",
        service_name=service.config.service_name,
    )


def _decide(
    service: BaseService,
    existing: BaseService | None,
    registry: ServiceRegistry,
    on_change: OnChange,
    replaced: EventOutcome,
    on_event: EventCallback | None,
) -> tuple[BaseService, EventOutcome]:
    did = EventOutcome.STARTED
    if existing is not None:
        if _reusable(existing, service, registry, on_change):
            return existing, EventOutcome.REUSED
        alive = existing.status.state in (ServiceState.ACTIVE, ServiceState.PENDING_STARTUP)
        if alive or replaced == EventOutcome.UPDATED:
            did = replaced
        here = observable_here(existing)
        if here:
            existing.hand_over(service)  # also sweeps leftovers of a crashed earlier run
        service.uuid = existing.uuid
        service.registry_version = existing.registry_version
        if (
            here
            and existing.endpoint is not None
            and service.endpoint is not None
            and service.endpoint.config == existing.endpoint.config
        ):
            service.endpoint.status.port = existing.endpoint.status.port
    return _launch(service, registry, did, on_event), did


def _reusable(
    existing: BaseService, service: BaseService, registry: ServiceRegistry, on_change: OnChange
) -> bool:
    """True if ``existing`` is what was asked for; raise if it may not be replaced."""
    here = observable_here(existing)
    if here:
        _refresh(existing, registry)
    alive = existing.status.state in (ServiceState.ACTIVE, ServiceState.PENDING_STARTUP)
    same = existing.type == service.type and existing.config.to_dict() == service.config.to_dict()
    if alive and same and existing.admin_state == ServiceState.ACTIVE:
        return True
    if alive and not same and on_change == "fail":
        raise ServiceConfigConflictError(
            f"Service {service.config.service_name!r} already runs with a different config. "
            "Stop it first, or start with on_change='restart' to replace it.",
            service_name=service.config.service_name,
            state=existing.status.state.value,
        )
    if not here and existing.status.state != ServiceState.INACTIVE:
        require_here(existing, "replace")  # its processes (or their leftovers) are over there
    return False


def _launch(
    service: BaseService,
    registry: ServiceRegistry,
    did: EventOutcome = EventOutcome.STARTED,
    on_event: EventCallback | None = None,
) -> BaseService:
    """Record the launch (PENDING_STARTUP, owner host), launch, record the process.

    A launch whose record cannot be completed is stopped again before the error is raised,
    so no process runs that the registry does not know about.
    """
    service.admin_state = ServiceState.ACTIVE
    service.status.update_state(ServiceState.PENDING_STARTUP)
    service.status.owner_host = this_host()
    service.status.launch_id = uuid_module.uuid4().hex
    try:
        save_record(service, registry)
    except (ConcurrentUpdateError, DuplicateServiceError):
        raise _Reconsider from None  # another writer got there between our read and write
    try:
        service.provision()
    except Exception as exc:
        service.status.update_state(ServiceState.ERROR, str(exc).splitlines()[0] if str(exc) else "")
        service.admin_state = ServiceState.INACTIVE
        with contextlib.suppress(RegistryError):
            save_record(service, registry)
        report(ServiceEvent.of(service, did), on_event)
        report(ServiceEvent.of(service, EventOutcome.FAILED, service.status.last_error), on_event)
        raise
    try:
        save_record(service, registry)
    except RegistryError as exc:
        raise _undo_launch(service, registry, exc) from exc
    return service


def _undo_launch(service: BaseService, registry: ServiceRegistry, cause: RegistryError) -> RegistryError:
    """Stop a launch the registry could not record; the error to raise says what happened."""
    name = service.config.service_name
    try:
        service.deprovision(force=True)
        outcome = "it was stopped again, so nothing runs unrecorded"
    except BackendError as exc:
        outcome = f"stopping it again failed too ({exc}); `outlive prune` finds what is left"
    service.admin_state = ServiceState.INACTIVE
    service.status.update_state(ServiceState.ERROR, "the launch could not be recorded")
    with contextlib.suppress(RegistryError):
        save_record(service, registry)
    return RegistryError(
        f"Service {name!r} was launched but the registry could not record it ({cause}); "
        f"{outcome}. Start it again once the registry answers."
    )


def _await_active(
    service: BaseService,
    registry: ServiceRegistry,
    timeout: float | None,
    on_progress: Progress | None = None,
    on_event: EventCallback | None = None,
) -> BaseService:
    """The starter's wait: the one ActiveWatch, which also ends when the service ended."""
    budget = service.probe_policy.startup_timeout if timeout is None else timeout
    watch = ActiveWatch(service, registry, launched=True)
    before = service.status.state
    return _watch_until_active(watch, budget, service.probe_policy, on_progress, on_event, before)


def _watch_until_active(
    watch: ActiveWatch,
    timeout: float,
    policy: ProbePolicy | None,
    on_progress: Progress | None,
    on_event: EventCallback | None = None,
    before: ServiceState | None = None,
) -> BaseService:
    """Look through ``watch`` until ACTIVE, a final state, or ``timeout``; save what was seen.
    Returns the ACTIVE service, else raises with its state, last probe, exit code and logs.
    ``active`` or ``failed`` is reported unless that is what the service already was
    (``before``; by default the state last reported for it)."""
    started = time.monotonic()
    deadline = started + timeout

    def check() -> ServiceState | None:
        outcome = watch.look(probe_timeout=deadline - time.monotonic(), record=True)
        if on_progress is not None and watch.service is not None:
            on_progress(watch.service, time.monotonic() - started)
        return outcome

    watch.refresh()  # an unknown name fails here, before any waiting
    if before is None and watch.service is not None:
        before = _last_reported(watch.service)
    wait_until(check, timeout=timeout, policy=policy or _policy_of(watch))
    service = watch.service
    if service is None:  # waited for a registration that never came
        raise StartTimeoutError(
            f"Service {watch.key!r} was not registered within {timeout:g}s. Hint: check that "
            "the task that starts it runs, and that both use the same registry.",
            service_name=watch.key,
            state="unregistered",
        )
    if not watch.recorded:  # a final look has written what it saw already
        save_record(service, watch.registry, observation=True)
    if service.status.state == ServiceState.ACTIVE:
        _report_seen(service, before, on_event)
        return service
    error = _not_active_error(service, timeout)
    _report_seen(service, before, on_event, error)
    raise error


def _policy_of(watch: ActiveWatch) -> ProbePolicy:
    return watch.service.probe_policy if watch.service is not None else ProbePolicy()


def _last_reported(service: BaseService) -> ServiceState:
    """The state the events log last reported for ``service`` (its stored state if none), so
    a wait reports ``active`` once even when another process saw it first (a trigger)."""
    last = EventLog().last(str(service.uuid))
    return ServiceState(last.state) if last is not None else service.status.state


def _report_seen(
    service: BaseService,
    before: ServiceState | None,
    on_event: EventCallback | None,
    error: Exception | None = None,
) -> None:
    """Report ``active`` (or ``failed``, with the state it is really in) once: only when the
    wait saw the service arrive there, not when it already was."""
    if error is None and before != ServiceState.ACTIVE:
        report(ServiceEvent.of(service, EventOutcome.ACTIVE), on_event)
    elif error is not None and before != ServiceState.ERROR:
        reason = str(error).splitlines()[0]
        report(ServiceEvent.of(service, EventOutcome.FAILED, reason), on_event)


def _not_active_error(service: BaseService, budget: float) -> Exception:
    name = service.config.service_name
    details: dict[str, Any] = {
        "service_name": name,
        "state": service.status.state.value,
        "last_probe": service.status.last_probe,
        "exit_code": service.status.exit_code,
        "log_tail": service.log_tail(50),
    }
    if service.status.state == ServiceState.ERROR:
        return ServiceFailedError(
            f"Service {name!r} failed to start: {service.status.last_error}", **details
        )
    if service.status.state == ServiceState.INACTIVE:
        return ServiceFailedError(
            f"Service {name!r} ended before it became active (it was stopped, or its process "
            "returned). Hint: a service's process must keep running; see its log.",
            **details,
        )
    note = observation_note(service)
    return StartTimeoutError(
        f"Service {name!r} did not become active within {budget:g}s (state: "
        f"{service.status.state.value}{'; ' + note if note else ''}). Hint: raise the timeout "
        "(or the probe policy's startup_timeout) for slow services, or check the health path "
        "and port.",
        **details,
    )


def settle(
    service: BaseService,
    *,
    timeout: float,
    policy: ProbePolicy | None = None,
    on_progress: Progress | None = None,
) -> ServiceState:
    """Observe until the state matches ``admin_state``, fails, or ``timeout`` passes; return it."""
    target = service.admin_state
    started = time.monotonic()
    deadline = started + timeout

    def check() -> ServiceState | None:
        _look(service, probe_timeout=deadline - time.monotonic())
        if on_progress is not None:
            on_progress(service, time.monotonic() - started)
        state = service.status.state
        if state == target or state == ServiceState.ERROR:
            return state
        return None

    result = wait_until(check, timeout=timeout, policy=policy or service.probe_policy)
    return result if result is not None else service.status.state


def _look(service: BaseService, probe_timeout: float) -> None:
    """One observation while waiting: of the processes where they run; from another host, a
    fresh read of the record, which the owner host's own callers keep current."""
    if observable_here(service) or service.registry is None:
        observe(service, probe_timeout=probe_timeout)
        return
    fresh = service.registry.get_or_none(str(service.uuid))
    if fresh is None:
        service.status.update_state(ServiceState.INACTIVE)
        service.status.last_probe = "its record was deleted"
        return
    service._adopt(fresh)


# -- stop, update, delete ------------------------------------------------------------------------


@overload
def stop_service(
    ref: ServiceRef,
    *,
    registry: ServiceRegistry | None = ...,
    timeout: float = ...,
    force: bool = ...,
    on_event: EventCallback | None = ...,
    missing_ok: Literal[False] = ...,
) -> BaseService: ...


@overload
def stop_service(
    ref: ServiceRef,
    *,
    registry: ServiceRegistry | None = ...,
    timeout: float = ...,
    force: bool = ...,
    on_event: EventCallback | None = ...,
    missing_ok: bool,
) -> BaseService | None: ...


def stop_service(
    ref: ServiceRef,
    *,
    registry: ServiceRegistry | None = None,
    timeout: float = 10.0,
    force: bool = False,
    on_event: EventCallback | None = None,
    missing_ok: bool = False,
) -> BaseService | None:
    """Stop the service's whole process tree (or container); INACTIVE afterwards (``stopped``).

    The stop is saved (``admin_state`` INACTIVE) before anything is signalled, and ``timeout``
    caps the grace period of this stop only: whatever ``timeout`` or ``force``, a stop that
    was asked for ends INACTIVE, never ERROR, and the saved config is left as it was.
    With ``missing_ok``, a name nobody registered returns None instead of raising
    :class:`ServiceNotFoundError`, so a clean-up step can run twice.
    """
    timeout = check_timeout(timeout, "timeout")
    registry = _registry(registry, ref if isinstance(ref, BaseService) else None)
    service = _resolve_or_none(ref, registry, missing_ok)
    if service is None:
        return None
    with registry.claim(service.config.service_name):
        recorded = reread(service, registry)
        service = recorded or service  # a record deleted meanwhile: still stop what runs
        require_here(service, "stop")
        service.admin_state = ServiceState.INACTIVE
        service.status.update_state(ServiceState.PENDING_SHUTDOWN)
        if recorded is not None:
            save_record(service, registry)
        service.deprovision_within(timeout, force=force)
        service.update_status()
        if recorded is not None:
            save_record(service, registry)
    report(ServiceEvent.of(service, EventOutcome.STOPPED), on_event)
    return service


def _resolve_or_none(ref: ServiceRef, registry: ServiceRegistry, missing_ok: bool) -> BaseService | None:
    """:func:`_resolve`, or None for a name nobody registered when ``missing_ok``."""
    try:
        return _resolve(ref, registry)
    except ServiceNotFoundError:
        if missing_ok and not isinstance(ref, BaseService):
            return None
        raise


def update_service(
    ref: ServiceRef,
    config: ServiceConfig | BaseService,
    *,
    registry: ServiceRegistry | None = None,
    timeout: float | None = None,
    wait: bool = True,
    on_event: EventCallback | None = None,
) -> BaseService:
    """Apply a new config (or a whole new definition); a running service is restarted with it.
    Reports ``updated``, then (for a running service) ``active`` or ``failed``.

    The change is based on the version of ``ref`` the caller read: if another caller (on any
    host) changed the record since, :class:`ConcurrentUpdateError` is raised with the current
    service as ``current``, and nothing is changed. A name as ``ref`` reads the record now.
    """
    registry = _registry(registry, ref if isinstance(ref, BaseService) else None)
    current = _resolve(ref, registry)
    read_by_caller = isinstance(ref, BaseService) and ref.registry_version is not None
    with registry.claim(current.config.service_name):
        if read_by_caller:
            require_unchanged(current, registry)
        else:
            current = reread(current, registry) or current
        replacement = _replacement(current, config)
        if current.admin_state != ServiceState.ACTIVE:
            save_record(replacement, registry)
            report(ServiceEvent.of(replacement, EventOutcome.UPDATED), on_event)
            return replacement
        target, did = _claim(replacement, registry, "restart", EventOutcome.UPDATED, on_event)
    report(ServiceEvent.of(target, did), on_event)
    if not wait:
        return target
    return _await_active(target, registry, timeout, None, on_event)


def _replacement(current: BaseService, config: ServiceConfig | BaseService) -> BaseService:
    if isinstance(config, BaseService):
        replacement = config
    else:
        if config.name_generated:  # a nameless config updates this service, under its name
            config = config.renamed(current.config.service_name)
        replacement = current.model_copy(update={"config": config}, deep=True)
    name = current.config.service_name
    if replacement.config.service_name != name:
        raise ConfigError(
            f"An update of service {name!r} names another service, "
            f"{replacement.config.service_name!r}: the names must match (to rename, delete the "
            "old one and start the new one)."
        )
    replacement.uuid = current.uuid
    replacement.registry_version = current.registry_version
    if type(replacement) is type(current):
        # What was observed (runtime directory, logs, last port) still describes this service.
        replacement.status = current.status.model_copy(deep=True)
        if replacement.endpoint is not None and current.endpoint is not None:
            replacement.endpoint.status = current.endpoint.status.model_copy(deep=True)
    return replacement


def delete_service(
    ref: ServiceRef,
    *,
    registry: ServiceRegistry | None = None,
    force: bool = False,
    missing_ok: bool = False,
) -> BaseService | None:
    """Stop the service if it runs, then remove its record and runtime files.

    Returns the deleted service, as last recorded and then taken down (None when
    ``missing_ok`` and no such service is registered: nothing is raised, so a clean-up can
    run twice).
    """
    registry = _registry(registry, ref if isinstance(ref, BaseService) else None)
    try:
        service = _resolve_or_none(ref, registry, missing_ok)
    except ServiceNotFoundError:
        raise  # nothing recorded under that name, corrupt or not
    except Exception:
        if not force or isinstance(ref, BaseService):
            raise
        registry.delete(ref)  # a corrupted record: remove it without loading it
        return None
    if service is None:
        return None
    with registry.claim(service.config.service_name):
        service = reread(service, registry) or service
        here = observable_here(service)
        if here:
            try:
                service.deprovision(force=force)
            except BackendError:
                if not force:
                    raise
                # The engine is gone for good: with force, the record goes anyway.
        elif not force and service.status.state != ServiceState.INACTIVE:
            require_here(service, "delete")  # with force, the record goes; its host's processes stay
        registry.delete(str(service.uuid))
    if here:
        service.discard_runtime_files()
    return service


class _Refresher:
    """Observes services handed to it, up to :data:`WORKERS` at once, while the
    caller goes on decoding the next records.

    Each worker takes services from one shared queue until the caller is done, so a batch
    costs a queue entry per service, not a future and a thread wake-up each; a slow service
    holds up one worker only. :meth:`finish` waits for all of them and returns the error of
    the earliest service whose refresh failed (the one a ``map`` would raise), once all were
    refreshed.
    """

    def __init__(self, registry: ServiceRegistry, pool: ThreadPoolExecutor) -> None:
        self.registry, self.pool = registry, pool
        self.queue: queue.SimpleQueue[tuple[int, BaseService] | None] = queue.SimpleQueue()
        self.workers: list[Future[None]] = []
        self.errors: list[tuple[int, BaseException]] = []
        self.count = 0

    def add(self, service: BaseService) -> None:
        self.queue.put((self.count, service))
        self.count += 1
        if len(self.workers) < min(self.count, WORKERS):
            self.workers.append(self.pool.submit(self._work))

    def _work(self) -> None:
        while (item := self.queue.get()) is not None:
            index, service = item
            try:
                _refresh(service, self.registry)
            except BaseException as exc:  # re-raised by finish(), in the caller's thread
                self.errors.append((index, exc))

    def finish(self) -> BaseException | None:
        """Wait for every worker; the error to raise, if any refresh failed."""
        for _ in self.workers:
            self.queue.put(None)
        for worker in self.workers:
            worker.result()
        return min(self.errors, key=lambda error: error[0])[1] if self.errors else None


# -- look and wait -------------------------------------------------------------------------------


def get_service(
    ref: ServiceRef, *, registry: ServiceRegistry | None = None, refresh: bool = True
) -> BaseService:
    """The registered service; with ``refresh``, its status is observed now and saved."""
    registry = _registry(registry, ref if isinstance(ref, BaseService) else None)
    service = _resolve(ref, registry)
    if refresh:
        _refresh(service, registry)
    return service


def _refresh(service: BaseService, registry: ServiceRegistry) -> None:
    before = _persisted_view(service)
    service.update_status()
    if _persisted_view(service) != before:
        save_record(service, registry, observation=True)


def _persisted_view(service: BaseService) -> dict[str, Any]:
    """The status facts worth a registry write (:func:`plugin_core.observation.persisted_view`),
    from the status's field values: equal values serialise to equal documents, and a status
    query of hundreds of services should not serialise each status twice to learn that."""
    return persisted_view(field_values(service.status))


def find_services(
    *,
    registry: ServiceRegistry | None = None,
    name: str | None = None,
    type: str | None = None,
    labels: dict[str, str] | None = None,
    config: ServiceConfig | None = None,
    refresh: bool = True,
) -> list[BaseService]:
    """Registered services matching every filter, their status observed now (in parallel)."""
    registry = _registry(registry)
    if not refresh:
        return registry.find(name=name, type=type, labels=labels, config=config)
    with observer_pool() as pool:
        refresher = _Refresher(registry, pool)
        try:  # each service is observed while the next records decode
            services = registry.find(
                name=name, type=type, labels=labels, config=config, each=refresher.add
            )
        finally:
            error = refresher.finish()
    if error is not None:
        raise error
    return services


def wait_for_service(
    ref: ServiceRef,
    *,
    registry: ServiceRegistry | None = None,
    timeout: float = 300.0,
    policy: ProbePolicy | None = None,
    on_progress: Progress | None = None,
    wait_for_registration: bool = False,
    on_event: EventCallback | None = None,
) -> BaseService:
    """Wait until the service is ACTIVE; raise at once if it fails, or when ``timeout`` passes.

    Each look re-reads the registry, so a restart or stop elsewhere is seen at once. A name
    nobody registered raises ServiceNotFoundError at once, unless ``wait_for_registration``
    (then it is waited for, within ``timeout``). See :mod:`plugin_core.readiness`.
    Reports ``active`` (or ``failed``) unless that is the state last reported for it.
    """
    timeout = check_timeout(timeout)
    registry = _registry(registry, ref if isinstance(ref, BaseService) else None)
    watch = ActiveWatch(ref, registry, wait_for_registration=wait_for_registration)
    return _watch_until_active(watch, timeout, policy, on_progress, on_event)
