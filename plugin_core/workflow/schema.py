"""Tables the workflow service adds to the registry database (SQLAlchemy Core).

They live beside the core's ``outlive_services`` in the same database, so the
registry stays the one control plane: replicas (membership and heartbeats) and
session state. Created on first use; the core schema is never touched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text

from plugin_core.errors import RegistryError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

metadata = MetaData()

sessions = Table(
    "outlive_workflow_sessions",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("state", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

replicas = Table(
    "outlive_workflow_replicas",
    metadata,
    Column("replica_id", String(64), primary_key=True),
    Column("service_name", String(128), nullable=False),
    Column("url", String(512), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("heartbeat_ttl", Float, nullable=False),
)

Index("ix_outlive_workflow_replicas_service", replicas.c.service_name)

_READY: set[str] = set()
_SCHEMA_ATTEMPTS = 4
_LOCK = threading.Lock()


def engine_for(url: str | None) -> Engine:
    """The registry's shared engine for ``url`` (None: the default registry), with our tables.

    Two processes opening a fresh database at once (replicas starting together) can
    both try to create the same table and one fails with "already exists"; a second
    attempt then finds the tables, so creation is retried before an error is believed.
    """
    for attempt in range(_SCHEMA_ATTEMPTS):
        try:
            return _open(url)
        except RegistryError:
            if attempt == _SCHEMA_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _open(url: str | None) -> Engine:
    from plugin_core.registry import ServiceRegistry

    registry = ServiceRegistry(url)
    engine = registry.engine
    with _LOCK:
        if registry.url not in _READY:
            with translated("workflow tables"):
                metadata.create_all(engine, checkfirst=True)
            _READY.add(registry.url)
    return engine


@contextmanager
def translated(subject: str) -> Iterator[None]:
    """Turn SQLAlchemy errors into :class:`RegistryError`: this package's one edge to the driver."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as exc:
        raise RegistryError(f"Registry error while handling {subject}: {exc}") from None
