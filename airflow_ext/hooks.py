"""``OutliveRegistryHook``: turns an Airflow connection into a core ``ServiceRegistry``.

The hook is the only place in the adapter that reads connections. A connection of type
``outlive`` names the registry in one of three ways:

* ``{"conn_type": "outlive", "extra": {"path": "/var/lib/outlive/registry.db"}}``: SQLite file;
* host, port, login, password and schema (the database): PostgreSQL through psycopg 3;
* ``{"extra": {"url": "<any SQLAlchemy URL>"}}``: anything else the core registry accepts.

The connection form's labels and extra fields are declared in ``get_provider_info``
(``conn-fields``, ``ui-field-behaviour``), as Airflow 3.2+ wants; the form stores them in
extra, plain or prefixed (``extra__outlive__path``), and both are read.

The password stays in the connection (Airflow masks it in task logs); this module only
ever logs the URL with its password replaced by ``***``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from airflow.sdk import BaseHook

from airflow_ext._compat import AirflowNotFoundException

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from plugin_core import BaseService, ServiceEvent, ServiceRegistry

    ServiceDefinition = BaseService | dict[str, Any] | str
    Progress = Callable[[BaseService, float], None]

__all__ = ["OutliveRegistryHook", "connection_to_url", "redact_url"]

_PG_DEFAULT_PORT = 5432
_PG_DEFAULT_DATABASE = "outlive"


class OutliveRegistryHook(BaseHook):
    """Resolve the registry a task should use, and act on services in it from ``@task`` code.

    ``outlive_conn_id`` defaults to ``outlive_default``, as Airflow's own hooks do. When that
    connection is not defined, the core default registry applies (``OUTLIVE_REGISTRY_URL``,
    else SQLite under ``$OUTLIVE_HOME``), which is what a single-host deployment wants without
    any setup; any other connection id that is not defined is an error. ``None`` skips the
    lookup. The task log says which registry was used and why.

    The service methods return the core's ``service_info`` dicts (JSON-able, fit for XCom)
    with ``outcome`` (what the call did: started, reused, restarted, updated, stopped) and
    ``events`` (every event the core reported, e.g. ``["started", "active"]``), and log one line
    per event; the operators are thin wrappers around them::

        @task
        def deploy():
            return OutliveRegistryHook().start_service({"type": "command", "config": {...}})
    """

    conn_name_attr: ClassVar[str] = "outlive_conn_id"
    default_conn_name: ClassVar[str] = "outlive_default"
    conn_type: ClassVar[str] = "outlive"
    hook_name: ClassVar[str] = "Outlive service registry"

    def __init__(self, outlive_conn_id: str | None = default_conn_name) -> None:
        super().__init__()
        self.outlive_conn_id = outlive_conn_id
        self._registry: ServiceRegistry | None = None

    def get_conn(self) -> ServiceRegistry:
        """Return the registry (Airflow's name for "the client this hook builds")."""
        return self.get_registry()

    def get_registry_url(self) -> str | None:
        """The registry URL the connection names; None for the core default."""
        conn_id = self.outlive_conn_id
        if conn_id is None:
            return self._announce(None, "no connection")
        try:
            conn = self.get_connection(conn_id)
        except AirflowNotFoundException:
            if conn_id != self.default_conn_name:
                raise
            return self._announce(None, f"connection {conn_id} is not defined")
        return self._announce(connection_to_url(conn), f"connection {conn_id}")

    def get_registry(self) -> ServiceRegistry:
        """Build a ``ServiceRegistry`` from the connection, or the core default (once per hook)."""
        if self._registry is None:
            from plugin_core import ServiceRegistry

            self._registry = ServiceRegistry(self.get_registry_url())
        return self._registry

    @classmethod
    async def aget_registry_url(cls, outlive_conn_id: str | None) -> str | None:
        """Async twin for triggers: reading a connection must not block the triggerer loop."""
        hook = cls(outlive_conn_id)
        if outlive_conn_id is None:
            return hook._announce(None, "no connection")
        try:
            conn = await cls.aget_connection(outlive_conn_id)
        except AirflowNotFoundException:
            if outlive_conn_id != cls.default_conn_name:
                raise
            return hook._announce(None, f"connection {outlive_conn_id} is not defined")
        return hook._announce(connection_to_url(conn), f"connection {outlive_conn_id}")

    def _announce(self, url: str | None, why: str) -> str | None:
        if url:
            self.log.info("Outlive registry: %s (%s)", redact_url(url), why)
        else:
            from plugin_core import ServiceRegistry

            default = redact_url(ServiceRegistry().url)
            self.log.info("Outlive registry: core default %s (%s)", default, why)
        return url

    def test_connection(self) -> tuple[bool, str]:
        """The UI's "Test" button: can the registry be opened and read?"""
        try:
            count = len(self.get_registry().find())
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Registry reachable; {count} service(s) registered"

    # -- services, for @task code and the operators -------------------------------------------

    def start_service(
        self,
        service: ServiceDefinition,
        *,
        timeout: float | None = None,
        on_change: Literal["restart", "fail"] = "restart",
        wait: bool = True,
        on_progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Start the service (or reuse the one of that name); see ``plugin_core.start_service``."""
        import plugin_core as core

        return self._reported(
            core.start_service,
            core.load_service(service),
            timeout=timeout,
            on_change=on_change,
            wait=wait,
            on_progress=on_progress,
        )

    def update_service(
        self,
        name_or_uuid: str | None,
        service: ServiceDefinition,
        *,
        timeout: float | None = None,
        wait: bool = True,
    ) -> dict[str, Any]:
        """Apply a new definition (None: the definition's own name); the core restarts it."""
        import plugin_core as core

        definition = core.load_service(service)
        return self._reported(
            core.update_service,
            name_or_uuid or definition.config.service_name,
            definition,
            timeout=timeout,
            wait=wait,
        )

    def stop_service(
        self,
        name_or_uuid: str,
        *,
        timeout: float = 10.0,
        force: bool = False,
        ignore_missing: bool = False,
    ) -> dict[str, Any] | None:
        """Stop the service's process tree; None when it is not registered and ``ignore_missing``."""
        import plugin_core as core

        events = _TaskEvents(self.log)
        stopped = core.stop_service(
            name_or_uuid,
            registry=self.get_registry(),
            timeout=timeout,
            force=force,
            on_event=events,
            missing_ok=ignore_missing,
        )
        if stopped is None:
            self.log.info("No service %r is registered; nothing to stop", name_or_uuid)
            return None
        return events.info(stopped)

    def wait_for_service(
        self, name_or_uuid: str, *, timeout: float = 300.0, on_progress: Progress | None = None
    ) -> dict[str, Any]:
        """Wait until ACTIVE (the core's one wait); ``active`` is reported once, even when a
        trigger saw it first."""
        import plugin_core as core

        return self._reported(
            core.wait_for_service, name_or_uuid, timeout=timeout, on_progress=on_progress
        )

    def get_service(self, name_or_uuid: str, *, refresh: bool = True) -> dict[str, Any]:
        """The service's info; with ``refresh`` its state is observed now."""
        import plugin_core as core

        service = core.get_service(name_or_uuid, registry=self.get_registry(), refresh=refresh)
        return core.service_info(service)

    def delete_service(
        self, name_or_uuid: str, *, force: bool = False, ignore_missing: bool = False
    ) -> dict[str, Any] | None:
        """Stop the service if it runs and remove its record; returns the deleted service's info
        (None when it is not registered and ``ignore_missing``)."""
        import plugin_core as core

        deleted = core.delete_service(
            name_or_uuid, registry=self.get_registry(), force=force, missing_ok=ignore_missing
        )
        if deleted is None:
            self.log.info("No service %r is registered; nothing to delete", name_or_uuid)
            return None
        return core.service_info(deleted)

    def _reported(
        self, action: Callable[..., BaseService], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """``action`` (a core function) on this hook's registry, its events logged for the task;
        the service's info with what the call did."""
        events = _TaskEvents(self.log)
        service = action(*args, registry=self.get_registry(), on_event=events, **kwargs)
        return events.info(service)

    def prune_services(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Remove records of stopped and failed services and orphan runtime directories."""
        import plugin_core as core

        report = core.prune_services(registry=self.get_registry(), dry_run=dry_run)
        return {
            "deleted": list(report.deleted),
            "swept_dirs": list(report.swept_dirs),
            "kept_dirs": [list(kept) for kept in report.kept_dirs],
        }


class _TaskEvents:
    """The core's ``on_event``: one task-log line per event, and the outcome for XCom.

    The core decides which event happened; this only writes it down.
    """

    def __init__(self, log: Any) -> None:
        self.log = log
        self.outcomes: list[str] = []

    def __call__(self, event: ServiceEvent) -> None:
        self.outcomes.append(event.outcome.value)
        bad = event.outcome.value in ("failed", "died", "gave-up")
        (self.log.error if bad else self.log.info)("Service %s", event.describe())

    def info(self, service: BaseService) -> dict[str, Any]:
        from plugin_core import service_info

        first = self.outcomes[0] if self.outcomes else None
        return {**service_info(service), "outcome": first, "events": list(self.outcomes)}


def connection_to_url(conn: Connection) -> str | None:
    """Map a connection to a SQLAlchemy URL; ``None`` when it names no registry at all."""
    extra = conn.extra_dejson or {}
    url = extra.get("url") or extra.get("extra__outlive__url")
    if url:
        return str(url)
    path = extra.get("path") or extra.get("extra__outlive__path")
    if path:
        return f"sqlite:///{path}"
    if not conn.host:
        return None
    auth = ""
    if conn.login:
        auth = quote(conn.login, safe="")
        if conn.password:
            auth += ":" + quote(conn.password, safe="")
        auth += "@"
    port = conn.port or _PG_DEFAULT_PORT
    database = conn.schema or _PG_DEFAULT_DATABASE
    return f"postgresql+psycopg://{auth}{conn.host}:{port}/{database}"


def redact_url(url: str) -> str:
    """Replace the password of ``url`` with ``***`` so it can be logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))
