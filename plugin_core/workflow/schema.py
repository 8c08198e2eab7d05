"""Tables the workflow service adds to the registry database (SQLAlchemy Core).

They live beside the core's ``outlive_services`` in the same database, so the
registry stays the one control plane: replicas (membership and heartbeats) and
session state. Created on first use; the core schema is never touched.
"""

from __future__ import annotations

import threading
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
_LOCK = threading.Lock()


def engine_for(url: str | None) -> Engine:
    """The registry's shared engine for ``url`` (None: the default registry), with our tables.

    Table creation goes through the core's ``create_schema``, which already copes with two
    processes (replicas starting together) creating a fresh database at the same moment.
    """
    from plugin_core.registry import ServiceRegistry
    from plugin_core.registry.store import create_schema

    registry = ServiceRegistry(url)
    engine = registry.engine
    with _LOCK:
        if registry.url not in _READY:
            create_schema(engine, metadata)
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
