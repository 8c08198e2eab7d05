"""The schema outlive 0.1.0 created: services, their labels, the workflow service's tables.

0.1.0 created these with ``create_all(checkfirst=True)`` and kept no version, so a 0.1.0
database has some or all of them and no version table: each is created only if missing,
which makes this revision the upgrade from 0.1.0 as well as a fresh database's first step.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plugin_core.registry.migrations import has_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if not has_table(bind, "outlive_services"):
        op.create_table(
            "outlive_services",
            sa.Column("uuid", sa.String(36), primary_key=True),
            sa.Column("name", sa.String(128), nullable=False, unique=True),
            sa.Column("type", sa.String(512), nullable=False),
            sa.Column("flavor", sa.String(128), nullable=False),
            sa.Column("admin_state", sa.String(32), nullable=False),
            sa.Column("state", sa.String(32), nullable=False),
            sa.Column("config", sa.Text, nullable=False),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("endpoint", sa.Text, nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
        )
        op.create_index("ix_outlive_services_type", "outlive_services", ["type"])
    if not has_table(bind, "outlive_service_labels"):
        op.create_table(
            "outlive_service_labels",
            sa.Column(
                "uuid", sa.String(36),
                sa.ForeignKey("outlive_services.uuid", ondelete="CASCADE"), primary_key=True,
            ),
            sa.Column("key", sa.String(128), primary_key=True),
            sa.Column("value", sa.String(512), nullable=False),
        )
        op.create_index(
            "ix_outlive_labels_key_value", "outlive_service_labels", ["key", "value"]
        )
    if not has_table(bind, "outlive_workflow_sessions"):
        op.create_table(
            "outlive_workflow_sessions",
            sa.Column("session_id", sa.String(128), primary_key=True),
            sa.Column("state", sa.Text, nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
        )
    if not has_table(bind, "outlive_workflow_replicas"):
        op.create_table(
            "outlive_workflow_replicas",
            sa.Column("replica_id", sa.String(64), primary_key=True),
            sa.Column("service_name", sa.String(128), nullable=False),
            sa.Column("url", sa.String(512), nullable=False),
            sa.Column("pid", sa.Integer, nullable=False),
            sa.Column("hostname", sa.String(255), nullable=False),
            sa.Column("started_at", sa.Float, nullable=False),
            sa.Column("heartbeat_at", sa.Float, nullable=False),
            sa.Column("heartbeat_ttl", sa.Float, nullable=False),
        )
        op.create_index(
            "ix_outlive_workflow_replicas_service", "outlive_workflow_replicas", ["service_name"]
        )
