"""``OutliveRegistryHook``: turns an Airflow connection into a core ``ServiceRegistry``.

The hook is the only place in the adapter that reads connections. A connection of type
``outlive`` names the registry in one of three ways:

* ``{"conn_type": "outlive", "extra": {"path": "/var/lib/outlive/registry.db"}}``: SQLite file;
* host, port, login, password and schema (the database): PostgreSQL through psycopg 3;
* ``{"extra": {"url": "<any SQLAlchemy URL>"}}``: anything else the core registry accepts.

The password stays in the connection (Airflow masks it in task logs); this module only
ever logs the URL with its password replaced by ``***``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from plugin_core import ServiceRegistry

__all__ = ["OutliveRegistryHook", "connection_to_url", "redact_url"]

_PG_DEFAULT_PORT = 5432
_PG_DEFAULT_DATABASE = "outlive"


class OutliveRegistryHook(BaseHook):
    """Resolve the registry a task should use.

    ``outlive_conn_id=None`` means "no Airflow connection": the core default applies
    (``OUTLIVE_REGISTRY_URL``, else SQLite under ``$OUTLIVE_HOME``), which is what a
    single-host deployment wants without any setup.
    """

    conn_name_attr: ClassVar[str] = "outlive_conn_id"
    default_conn_name: ClassVar[str] = "outlive_default"
    conn_type: ClassVar[str] = "outlive"
    hook_name: ClassVar[str] = "Outlive service registry"

    def __init__(self, outlive_conn_id: str | None = default_conn_name) -> None:
        super().__init__()
        self.outlive_conn_id = outlive_conn_id

    def get_conn(self) -> ServiceRegistry:
        """Return the registry (Airflow's name for "the client this hook builds")."""
        return self.get_registry()

    def get_registry_url(self) -> str | None:
        """The registry URL the connection names; None for the core default."""
        if self.outlive_conn_id is None:
            return self._announce(None)
        return self._announce(connection_to_url(self.get_connection(self.outlive_conn_id)))

    def get_registry(self) -> ServiceRegistry:
        """Build a ``ServiceRegistry`` from the connection, or the core default."""
        from plugin_core import ServiceRegistry

        return ServiceRegistry(self.get_registry_url())

    @classmethod
    async def aget_registry_url(cls, outlive_conn_id: str | None) -> str | None:
        """Async twin for triggers: reading a connection must not block the triggerer loop."""
        hook = cls(outlive_conn_id)
        if outlive_conn_id is None:
            return hook._announce(None)
        return hook._announce(connection_to_url(await cls.aget_connection(outlive_conn_id)))

    def _announce(self, url: str | None) -> str | None:
        self.log.info(
            "Outlive registry: %s (connection %s)",
            redact_url(url) if url else "core default",
            self.outlive_conn_id or "none",
        )
        return url

    def test_connection(self) -> tuple[bool, str]:
        """The UI's "Test" button: can the registry be opened and read?"""
        try:
            count = len(self.get_registry().find())
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Registry reachable; {count} service(s) registered"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Label the generic connection form for the two usual registries."""
        return {
            "hidden-fields": [],
            "relabeling": {"host": "PostgreSQL host", "schema": "Database", "login": "User"},
            "placeholders": {
                "host": "leave empty for SQLite",
                "schema": _PG_DEFAULT_DATABASE,
                "extra": '{"path": "/var/lib/outlive/registry.db"} or {"url": "postgresql+psycopg://..."}',
            },
        }


def connection_to_url(conn: Connection) -> str | None:
    """Map a connection to a SQLAlchemy URL; ``None`` when it names no registry at all."""
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return str(extra["url"])
    if extra.get("path"):
        return f"sqlite:///{extra['path']}"
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
