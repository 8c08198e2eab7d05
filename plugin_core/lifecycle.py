"""Start, stop, update, find and wait: the one place where the lifecycle state machine lives.

Every adapter (Prefect tasks, Airflow operators, the CLI) calls these functions
and nothing else, so they all behave alike:

* start is idempotent by ``service_name``: the same config again returns the
  running service; a changed one is restarted (``on_change="restart"``) or
  refused (``"fail"``);
* a start that does not reach ACTIVE raises, with the last probe, the exit code
  and the log tail; the registry then says PENDING_STARTUP or ERROR, never ACTIVE;
* every transition is saved in the registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from plugin_core.errors import (
    BackendError,
    ConcurrentUpdateError,
    DuplicateServiceError,
    ServiceConfigConflictError,
    ServiceFailedError,
    StartTimeoutError,
)
from plugin_core.health import observe
from plugin_core.locks import name_lock
from plugin_core.model.config import ServiceConfig
from plugin_core.model.probe_policy import ProbePolicy
from plugin_core.model.state import ServiceState
from plugin_core.readiness import ActiveWatch
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


def _save(service: BaseService, registry: ServiceRegistry, *, best_effort: bool = False) -> None:
    try:
        registry.save(service)
    except ConcurrentUpdateError:
        if not best_effort:
            raise
    service.attach_registry(registry)


# -- start ---------------------------------------------------------------------------------------


def start_service(
    service: BaseService,
    *,
    registry: ServiceRegistry | None = None,
    timeout: float | None = None,
    on_change: OnChange = "restart",
    wait: bool = True,
    on_progress: Progress | None = None,
) -> BaseService:
    """Start ``service`` (or reuse the one of that name) and wait until it is ACTIVE.

    With ``wait=False`` it returns right after the launch (PENDING_STARTUP saved), for callers
    that wait elsewhere (a deferrable sensor); a launch that fails at once still raises.
    ``on_progress(service, elapsed)`` is called after each observation while waiting.
    """
    if timeout is not None:
        timeout = check_timeout(timeout)  # before anything is launched
    registry = _registry(registry, service)
    with name_lock(service.config.service_name):
        target = _claim(service, registry, on_change)
    if not wait:
        return target
    return _await_active(target, registry, timeout, on_progress)


def _claim(service: BaseService, registry: ServiceRegistry, on_change: OnChange) -> BaseService:
    """Decide under the name lock whether to reuse, replace or launch; launch if needed."""
    existing = registry.get_or_none(service.config.service_name)
    if existing is not None:
        existing.update_status()
        alive = existing.status.state in (ServiceState.ACTIVE, ServiceState.PENDING_STARTUP)
        same = (
            existing.type == service.type and existing.config.to_dict() == service.config.to_dict()
        )
        if alive and same and existing.admin_state == ServiceState.ACTIVE:
            _save(existing, registry, best_effort=True)
            return existing
        if alive and not same and on_change == "fail":
            raise ServiceConfigConflictError(
                f"Service {service.config.service_name!r} already runs with a different config. "
                "Stop it first, or start with on_change='restart' to replace it.",
                service_name=service.config.service_name,
                state=existing.status.state.value,
            )
        existing.deprovision()  # also sweeps leftovers of a crashed earlier run
        service.uuid = existing.uuid
        service.registry_version = existing.registry_version
        if (
            existing.endpoint is not None
            and service.endpoint is not None
            and service.endpoint.config == existing.endpoint.config
        ):
            service.endpoint.status.port = existing.endpoint.status.port
    service.admin_state = ServiceState.ACTIVE
    service.status.update_state(ServiceState.PENDING_STARTUP)
    try:
        _save(service, registry)
    except DuplicateServiceError:
        # Another machine sharing the registry claimed the name first: wait for theirs.
        return registry.get(service.config.service_name)
    try:
        service.provision()
    except Exception as exc:
        service.status.update_state(ServiceState.ERROR, str(exc).splitlines()[0])
        service.admin_state = ServiceState.INACTIVE
        _save(service, registry, best_effort=True)
        raise
    _save(service, registry)
    return service


def _await_active(
    service: BaseService,
    registry: ServiceRegistry,
    timeout: float | None,
    on_progress: Progress | None = None,
) -> BaseService:
    """The starter's wait: the one ActiveWatch, which also ends when the service ended."""
    budget = service.probe_policy.startup_timeout if timeout is None else timeout
    watch = ActiveWatch(service, registry, launched=True)
    return _watch_until_active(watch, budget, service.probe_policy, on_progress)


def _watch_until_active(
    watch: ActiveWatch,
    timeout: float,
    policy: ProbePolicy | None,
    on_progress: Progress | None,
) -> BaseService:
    """Look through ``watch`` until ACTIVE, a final state, or ``timeout``; save what was seen.
    Returns the ACTIVE service, else raises with its state, last probe, exit code and logs."""
    started = time.monotonic()
    deadline = started + timeout

    def check() -> ServiceState | None:
        outcome = watch.look(probe_timeout=deadline - time.monotonic())
        if on_progress is not None and watch.service is not None:
            on_progress(watch.service, time.monotonic() - started)
        return outcome

    watch.refresh()  # an unknown name fails here, before any waiting
    wait_until(check, timeout=timeout, policy=policy or _policy_of(watch))
    service = watch.service
    if service is None:  # waited for a registration that never came
        raise StartTimeoutError(
            f"Service {watch.key!r} was not registered within {timeout:g}s. Hint: check that "
            "the task that starts it runs, and that both use the same registry.",
            service_name=watch.key,
            state="unregistered",
        )
    _save(service, watch.registry, best_effort=True)
    if service.status.state == ServiceState.ACTIVE:
        return service
    raise _not_active_error(service, timeout)


def _policy_of(watch: ActiveWatch) -> ProbePolicy:
    return watch.service.probe_policy if watch.service is not None else ProbePolicy()


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
    return StartTimeoutError(
        f"Service {name!r} did not become active within {budget:g}s (state: "
        f"{service.status.state.value}). Hint: raise the timeout (or the probe policy's "
        "startup_timeout) for slow services, or check the health path and port.",
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
        observe(service, probe_timeout=deadline - time.monotonic())
        if on_progress is not None:
            on_progress(service, time.monotonic() - started)
        state = service.status.state
        if state == target or state == ServiceState.ERROR:
            return state
        return None

    result = wait_until(check, timeout=timeout, policy=policy or service.probe_policy)
    return result if result is not None else service.status.state


# -- stop, update, delete ------------------------------------------------------------------------


def stop_service(
    ref: ServiceRef,
    *,
    registry: ServiceRegistry | None = None,
    timeout: float = 10.0,
    force: bool = False,
) -> BaseService:
    """Stop the service's whole process tree (or container); INACTIVE afterwards.

    The stop is saved (``admin_state`` INACTIVE) before anything is signalled, and ``timeout``
    caps the grace period of this stop only: whatever ``timeout`` or ``force``, a stop that
    was asked for ends INACTIVE, never ERROR, and the saved config is left as it was.
    """
    timeout = check_timeout(timeout, "timeout")
    registry = _registry(registry, ref if isinstance(ref, BaseService) else None)
    service = _resolve(ref, registry)
    with name_lock(service.config.service_name):
        service.admin_state = ServiceState.INACTIVE
        service.status.update_state(ServiceState.PENDING_SHUTDOWN)
        _save(service, registry, best_effort=True)
        service.deprovision_within(timeout, force=force)
        service.update_status()
        _save(service, registry, best_effort=True)
    return service


def update_service(
    ref: ServiceRef,
    config: ServiceConfig | BaseService,
    *,
    registry: ServiceRegistry | None = None,
    timeout: float | None = None,
    wait: bool = True,
) -> BaseService:
    """Apply a new config (or a whole new definition); a running service is restarted with it."""
    registry = _registry(registry, ref if isinstance(ref, BaseService) else None)
    current = _resolve(ref, registry)
    if isinstance(config, BaseService):
        replacement = config
    else:
        replacement = current.model_copy(update={"config": config}, deep=True)
    replacement.uuid = current.uuid
    replacement.registry_version = current.registry_version
    if type(replacement) is type(current):
        # What was observed (runtime directory, logs, last port) still describes this service.
        replacement.status = current.status.model_copy(deep=True)
        if replacement.endpoint is not None and current.endpoint is not None:
            replacement.endpoint.status = current.endpoint.status.model_copy(deep=True)
    if current.admin_state != ServiceState.ACTIVE:
        _save(replacement, registry)
        return replacement
    return start_service(
        replacement, registry=registry, timeout=timeout, on_change="restart", wait=wait
    )


def delete_service(
    ref: ServiceRef, *, registry: ServiceRegistry | None = None, force: bool = False
) -> None:
    """Stop the service if it runs, then remove its record and runtime files."""
    import shutil

    registry = _registry(registry, ref if isinstance(ref, BaseService) else None)
    try:
        service = _resolve(ref, registry)
    except Exception:
        if not force or isinstance(ref, BaseService):
            raise
        registry.delete(ref)  # a corrupted record: remove it without loading it
        return
    try:
        service.deprovision(force=force)
    except BackendError:
        if not force:
            raise
        # The engine is gone for good: with force, the record goes anyway.
    registry.delete(str(service.uuid))
    runtime = getattr(service.status, "runtime_path", None)
    if runtime and not getattr(service.config, "singleton", False):
        shutil.rmtree(runtime, ignore_errors=True)


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """One lazily created pool for status refreshes: starting 16 threads per call costs
    ~1 ms each on a busy machine (the caller waits for every thread's start handshake)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="outlive-refresh")
    return _POOL


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
        _save(service, registry, best_effort=True)


def _persisted_view(service: BaseService) -> dict[str, Any]:
    """The status facts worth a registry write. A healthy service probed healthy again only
    bumps its success counter (unused once ready) and rewrites the same probe text, so a status
    query of N healthy services writes nothing; each write costs ~1 ms of GIL-bound SQLAlchemy
    work behind SQLite's single writer lock."""
    view = service.status.to_dict()
    view.pop("last_probe", None)
    if view.get("ready_once"):
        view.pop("consecutive_successes", None)
    return view


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
    services = registry.find(name=name, type=type, labels=labels, config=config)
    if refresh and services:
        list(_pool().map(lambda s: _refresh(s, registry), services))
    return services


def wait_for_service(
    ref: ServiceRef,
    *,
    registry: ServiceRegistry | None = None,
    timeout: float = 300.0,
    policy: ProbePolicy | None = None,
    on_progress: Progress | None = None,
    wait_for_registration: bool = False,
) -> BaseService:
    """Wait until the service is ACTIVE; raise at once if it fails, or when ``timeout`` passes.

    Each look re-reads the registry, so a restart or stop elsewhere is seen at once. A name
    nobody registered raises ServiceNotFoundError at once, unless ``wait_for_registration``
    (then it is waited for, within ``timeout``). See :mod:`plugin_core.readiness`.
    """
    timeout = check_timeout(timeout)
    registry = _registry(registry, ref if isinstance(ref, BaseService) else None)
    watch = ActiveWatch(ref, registry, wait_for_registration=wait_for_registration)
    return _watch_until_active(watch, timeout, policy, on_progress)
