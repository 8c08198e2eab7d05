"""Prefect tasks that start, watch and stop outlive services.

Each task maps its arguments onto one ``plugin_core`` function, logs through
the run logger and returns plain JSON-able data (the core's ``service_info``),
never a live service object: task results may be persisted, shown in the UI
or passed to another flow. Every lifecycle decision (idempotence by name,
health probing, waiting, process detachment) belongs to the core.

Each task has an async twin named with an ``a`` prefix (``astart_service``, as Prefect's own
``aload``/``asave``): the same body run in a worker thread, so an async flow's event loop keeps
serving other coroutines while a service starts or is waited for. The thread carries the run
context, so logs, artifacts and events still belong to the task run. A sync task called from
an async flow would block that loop; call the ``a`` form there.

Every task uses ``cache_policy=NO_CACHE``. A retried or re-run start must
really reach the core, which then reuses the service it already started under
that name instead of starting a second copy; and a status, a log tail or a
search describes the service now, so a cached answer (with result
persistence on) would be a stale one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import plugin_core as core
from prefect_ext._compat import NO_CACHE, run_logger, task
from prefect_ext.artifacts import emit_core_event, publish_service
from prefect_ext.blocks import ServiceBlock, ServiceRegistryBlock

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from prefect.tasks import Task

    from plugin_core import BaseService, ServiceRegistry

ServiceDefinition: TypeAlias = "ServiceBlock | BaseService | dict[str, Any] | str"
"""A block, a core service, or a definition (dict, JSON or YAML) for ``plugin_core.load_service``."""


def _registry(block: ServiceRegistryBlock | None) -> ServiceRegistry | None:
    """None lets the core pick its default (``OUTLIVE_REGISTRY_URL`` or the local SQLite file)."""
    return block.get_registry() if block is not None else None


def _as_service(definition: ServiceDefinition) -> BaseService:
    if isinstance(definition, ServiceBlock):
        return definition.get_service()
    return core.load_service(definition)


class _Events:
    """The core's ``on_event``: each event becomes a run-log line and a Prefect event.

    The core decides what happened (reused, restarted, active, failed with its state...) and
    reports each transition once; this only says it in Prefect's terms. It holds the core's
    recorder rather than subclassing it, so that importing the tasks (every flow file, at
    parse time) does not load ``plugin_core.events``; a task loads it when it runs.
    """

    def __init__(self, service_type: str = "") -> None:
        self.recorded = core.EventRecorder()
        self.service_type = service_type

    def __call__(self, event: core.ServiceEvent) -> None:
        self.recorded(event)
        bad = event.outcome in (core.EventOutcome.FAILED, core.EventOutcome.DIED)
        run_logger().log(logging.ERROR if bad else logging.INFO, "Service %s", event.describe())
        emit_core_event(event, self.service_type)

    def info(self, service: BaseService) -> dict[str, Any]:
        """``service_info`` plus ``outcome``: what this task did (started, reused, ...)."""
        return {**core.service_info(service), "outcome": self.recorded.first}


def _log_progress(name: str, every: float = 10.0) -> Callable[[BaseService, float], None]:
    """An ``on_progress`` callback that logs the state of a long wait every ``every`` seconds."""
    next_report = every

    def report(service: BaseService, elapsed: float) -> None:
        nonlocal next_report
        if elapsed >= next_report:
            next_report = elapsed + every
            run_logger().info(
                "Service %r is %s after %.0f s (%s)",
                name,
                service.status.state.value,
                elapsed,
                service.status.last_probe or service.status.last_error or "no probe yet",
            )

    return report


def _start_service(
    service: ServiceDefinition,
    registry: ServiceRegistryBlock | None = None,
    timeout: float | None = None,
    on_change: Literal["restart", "fail"] = "restart",
) -> dict[str, Any]:
    """Start a service that keeps running after this flow run ends, or reuse it.

    Idempotent by service name: when a service of that name already runs with
    the same definition, it is returned as is, so a retried task never starts
    a second copy. A changed definition restarts it (``on_change="restart"``)
    or raises ``ServiceConfigConflictError`` (``"fail"``).

    Args:
        service: a service block, a core ``BaseService``, or a definition
            (dict, JSON or YAML) accepted by ``plugin_core.load_service``.
        registry: where the service is recorded; default: the core's default registry.
        timeout: seconds to wait until ACTIVE; None uses the service's start-up timeout.
        on_change: what to do when the name runs with another definition.

    Returns:
        ``plugin_core.service_info`` of the service: uuid, name, state, url, ...

    Example:
        ```python
        from prefect import flow
        from prefect_ext import CommandServiceBlock, start_service

        @flow
        def serve():
            web = CommandServiceBlock(
                service_name="docs", command=["python", "-m", "http.server", "{port}"]
            )
            return start_service(web)["url"]
        ```
    """
    logger = run_logger()
    definition = _as_service(service)
    name = definition.config.service_name
    logger.info("Starting service %r (or reusing it if it already runs)", name)
    events = _Events(definition.type)
    try:
        started = core.start_service(
            definition,
            registry=_registry(registry),
            timeout=timeout,
            on_change=on_change,
            on_event=events,
        )
    except core.ServiceConfigConflictError as exc:
        logger.error("Refused to replace service %r (left as it runs): %s", name, exc)
        raise
    except core.LifecycleError as exc:
        logger.error("Service %r is not ACTIVE: %s", name, exc)
        raise
    info = events.info(started)
    publish_service(info)
    return info


def _stop_service(
    name_or_uuid: str,
    registry: ServiceRegistryBlock | None = None,
    timeout: float = 10.0,
    force: bool = False,
    ignore_missing: bool = False,
) -> dict[str, Any] | None:
    """Stop a service and its whole process tree; the registry keeps its record.

    Args:
        name_or_uuid: the service's registry name or uuid.
        registry: where the service is recorded; default: the core's default registry.
        timeout: grace period after SIGTERM before the tree is killed.
        force: kill at once instead of waiting for a graceful exit.
        ignore_missing: return None instead of raising ``ServiceNotFoundError`` when no
            such service is registered, so a clean-up flow can run twice.

    Returns:
        ``plugin_core.service_info`` of the stopped service (None: it was not registered).
    """
    logger = run_logger()
    logger.info("Stopping service %r", name_or_uuid)
    events = _Events()
    stopped = core.stop_service(
        name_or_uuid,
        registry=_registry(registry),
        timeout=timeout,
        force=force,
        on_event=events,
        missing_ok=ignore_missing,
    )
    if stopped is None:
        logger.info("No service %r is registered; nothing to stop", name_or_uuid)
        return None
    info = events.info(stopped)
    publish_service(info)
    return info


def _delete_service(
    name_or_uuid: str,
    registry: ServiceRegistryBlock | None = None,
    force: bool = False,
    ignore_missing: bool = False,
) -> dict[str, Any] | None:
    """Stop a service if it runs, then remove its record and runtime files.

    Args:
        name_or_uuid: the service's registry name or uuid.
        registry: where the service is recorded; default: the core's default registry.
        force: kill at once, and remove the record even if its engine is gone for good.
        ignore_missing: return None instead of raising when no such service is registered.

    Returns:
        ``plugin_core.service_info`` of the deleted service (None: it was not registered).
    """
    logger = run_logger()
    deleted = core.delete_service(
        name_or_uuid, registry=_registry(registry), force=force, missing_ok=ignore_missing
    )
    if deleted is None:
        logger.info("No service %r is registered; nothing to delete", name_or_uuid)
        return None
    info = core.service_info(deleted)
    logger.info("Deleted service %r (uuid %s)", info["name"], info["uuid"])
    return info


def _prune_services(
    registry: ServiceRegistryBlock | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Delete the records of stopped and failed services, and orphan runtime directories.

    Returns:
        ``{"deleted": [names], "swept_dirs": [paths], "kept_dirs": [[path, reason]]}``; with
        ``dry_run`` nothing is removed and the lists say what would be.
    """
    report = core.prune_services(registry=_registry(registry), dry_run=dry_run)
    run_logger().info(
        "%s %d service record(s) and %d orphan director(ies)",
        "Would prune" if dry_run else "Pruned",
        len(report.deleted),
        len(report.swept_dirs),
    )
    return {
        "deleted": list(report.deleted),
        "swept_dirs": list(report.swept_dirs),
        "kept_dirs": [list(kept) for kept in report.kept_dirs],
    }


def _update_service(
    name_or_uuid: str,
    service: ServiceDefinition,
    registry: ServiceRegistryBlock | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Apply a new definition to a registered service (the core restarts it if needed).

    Args:
        name_or_uuid: the service to change.
        service: its new definition, in any form ``start_service`` accepts.
        registry: where the service is recorded; default: the core's default registry.
        timeout: seconds to wait until the updated service is ACTIVE.

    Returns:
        ``plugin_core.service_info`` of the updated service.
    """
    run_logger().info("Updating service %r", name_or_uuid)
    definition = _as_service(service)
    events = _Events(definition.type)
    updated = core.update_service(
        name_or_uuid, definition, registry=_registry(registry), timeout=timeout, on_event=events
    )
    info = events.info(updated)
    publish_service(info)
    return info


def _wait_for_service(
    name_or_uuid: str,
    registry: ServiceRegistryBlock | None = None,
    timeout: float = 300.0,
    wait_for_registration: bool = False,
) -> dict[str, Any]:
    """Wait until a service is ACTIVE, probing it with the core's adaptive waiting.

    The core's one wait (``plugin_core.wait_for_service``), so it agrees with the CLI and the
    Airflow sensor: an unknown name raises ServiceNotFoundError at once, unless
    ``wait_for_registration=True`` (then it waits, within ``timeout``, for it to be registered).

    Probes start quickly and back off to the policy's cap, so a fast service
    is seen at once and a slow one costs little. The wait sleeps in short
    steps, so a Prefect ``timeout_seconds`` or a cancellation interrupts it.

    Raises:
        StartTimeoutError: not ACTIVE within ``timeout`` (with the last probe and log tail).
        ServiceFailedError: the service died or failed its health checks.

    Returns:
        ``plugin_core.service_info`` of the ACTIVE service.
    """
    logger = run_logger()
    logger.info("Waiting up to %.0f s for service %r to be ACTIVE", timeout, name_or_uuid)
    events = _Events()
    try:
        service = core.wait_for_service(
            name_or_uuid,
            registry=_registry(registry),
            timeout=timeout,
            on_progress=_log_progress(name_or_uuid),
            wait_for_registration=wait_for_registration,
            on_event=events,
        )
    except core.LifecycleError as exc:
        logger.error("Service %r is not ACTIVE: %s", name_or_uuid, exc)
        raise
    info = core.service_info(service)
    logger.info("Service %r is ACTIVE at %s", info["name"], info.get("url"))
    return info


def _get_service_status(
    name_or_uuid: str, registry: ServiceRegistryBlock | None = None
) -> dict[str, Any]:
    """Check a service once now and return its state (``service_info``); never waits."""
    info = core.service_info(core.get_service(name_or_uuid, registry=_registry(registry)))
    run_logger().info("Service %r is %s", info["name"], info["state"])
    return info


def _get_service_logs(
    name_or_uuid: str,
    registry: ServiceRegistryBlock | None = None,
    tail: int | None = 100,
) -> dict[str, Any]:
    """Read the last ``tail`` lines of a service's log (all of it with None).

    Returns:
        ``{"name", "uuid", "lines"}``; lines are not echoed into the run log,
        which would copy a service's output into Prefect's database.
    """
    service = core.get_service(name_or_uuid, registry=_registry(registry), refresh=False)
    lines = [line.rstrip("\n") for line in service.get_logs(follow=False, tail=tail)]
    run_logger().info("Read %d log lines of service %r", len(lines), service.config.service_name)
    return {"name": service.config.service_name, "uuid": str(service.uuid), "lines": lines}


def _find_services(
    name: str | None = None,
    type: str | None = None,
    labels: dict[str, str] | None = None,
    registry: ServiceRegistryBlock | None = None,
) -> list[dict[str, Any]]:
    """List registered services matching a name, a type and all given labels."""
    services = core.find_services(registry=_registry(registry), name=name, type=type, labels=labels)
    run_logger().info("Found %d service(s)", len(services))
    return [core.service_info(service) for service in services]


def _sync_task(body: Callable[..., Any]) -> Task[..., Any]:
    return task(body, name=body.__name__.lstrip("_"), cache_policy=NO_CACHE)


def _async_task(body: Callable[..., Any]) -> Task[..., Coroutine[Any, Any, Any]]:
    """The same body in a worker thread (which carries the run context): the loop stays free."""

    @functools.wraps(body)
    async def in_thread(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(body, *args, **kwargs)

    name = "a" + body.__name__.lstrip("_")
    in_thread.__name__ = in_thread.__qualname__ = name
    return task(in_thread, name=name, cache_policy=NO_CACHE)


_BODIES: dict[str, Callable[..., Any]] = {
    body.__name__.lstrip("_"): body
    for body in (
        _start_service,
        _stop_service,
        _update_service,
        _wait_for_service,
        _get_service_status,
        _get_service_logs,
        _find_services,
        _delete_service,
        _prune_services,
    )
}
"""Each task's body under its task's name; the async twin's name is this with an ``a`` prefix."""

__all__ = [*_BODIES, *(f"a{name}" for name in _BODIES)]

if TYPE_CHECKING:
    start_service = _sync_task(_start_service)
    stop_service = _sync_task(_stop_service)
    update_service = _sync_task(_update_service)
    wait_for_service = _sync_task(_wait_for_service)
    get_service_status = _sync_task(_get_service_status)
    get_service_logs = _sync_task(_get_service_logs)
    find_services = _sync_task(_find_services)
    delete_service = _sync_task(_delete_service)
    prune_services = _sync_task(_prune_services)
    astart_service = _async_task(_start_service)
    astop_service = _async_task(_stop_service)
    aupdate_service = _async_task(_update_service)
    await_for_service = _async_task(_wait_for_service)
    aget_service_status = _async_task(_get_service_status)
    aget_service_logs = _async_task(_get_service_logs)
    afind_services = _async_task(_find_services)
    adelete_service = _async_task(_delete_service)
    aprune_services = _async_task(_prune_services)


def __getattr__(name: str) -> Task[..., Any]:
    """Builds a task on first access (PEP 562) and keeps it as the module attribute.

    Why lazily: Prefect reads and tokenizes a task function's source file when it builds a
    ``Task`` (``inspect.getsource``, for cache keys), about 1 ms a task on these machines,
    and a flow file uses two or three of these eighteen. Building all of them on import
    was the larger part of what ``from prefect_ext import start_service`` cost a flow file
    (bench/bench_prefect_import.py). A task is built once: later accesses find the attribute.
    """
    if name in _BODIES:
        built = _sync_task(_BODIES[name])
    elif name.startswith("a") and name[1:] in _BODIES:
        built = _async_task(_BODIES[name[1:]])
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = built
    return built


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
