"""Tables the workflow service adds to the registry database (SQLAlchemy Core).

They live beside the core's ``outlive_services`` in the same database, so the
registry stays the one control plane: replicas (membership and heartbeats) and
session state. They are created and changed by the registry's migrations, like the core's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text

from plugin_core.registry.sql_errors import translated as translated

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


def engine_for(url: str | None) -> Engine:
    """The registry's shared engine for ``url`` (None: the default registry), with our tables:
    they are part of the registry schema, which opening the registry brings up to date
    (:mod:`plugin_core.registry.migrate`)."""
    from plugin_core.registry import ServiceRegistry

    return ServiceRegistry(url).engine
