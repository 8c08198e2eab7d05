"""Each service row records the record format it was written in (``record_format``).

Rows already there were written by 0.1.0: format 1 (stored types are import paths). The
server default keeps that true for rows a 0.1.0 process still inserts into a shared database
after the upgrade (it does not know the column); this outlive writes its own format.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from plugin_core.registry.migrations import has_column

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not has_column(op.get_bind(), "outlive_services", "record_format"):
        op.add_column(
            "outlive_services",
            sa.Column("record_format", sa.Integer, nullable=False, server_default="1"),
        )
