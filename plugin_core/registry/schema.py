"""Registry tables (SQLAlchemy Core): one row per service, one row per label for fast lookups.

This is the schema at revision :data:`plugin_core.registry.migrate.SCHEMA_HEAD`; databases get
there through the migrations in :mod:`plugin_core.registry.migrations`, never from this module
(change both together).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

services = Table(
    "outlive_services",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("type", String(512), nullable=False),
    Column("flavor", String(128), nullable=False, default=""),
    Column("admin_state", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    Column("config", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("endpoint", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    # The record format the row was written in (plugin_core.model.typed.RECORD_FORMAT); rows
    # from 0.1.0, and from 0.1.0 writers sharing an upgraded database, are format 1.
    Column("record_format", Integer, nullable=False, server_default="1"),
)

service_labels = Table(
    "outlive_service_labels",
    metadata,
    Column(
        "uuid",
        String(36),
        ForeignKey("outlive_services.uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(128), primary_key=True),
    Column("value", String(512), nullable=False),
)

Index("ix_outlive_labels_key_value", service_labels.c.key, service_labels.c.value)
Index("ix_outlive_services_type", services.c.type)
