"""Alembic migrations of the registry schema, run by :func:`plugin_core.registry.migrate.upgrade`.

Opening a registry brings its schema to the newest revision here (no ``alembic.ini`` or
``env.py``: the runner configures Alembic in code). Revisions are numbered; each file in
``versions/`` names its ``revision`` and the ``down_revision`` it builds on.

To change the schema: add ``versions/NNNN_what.py`` with ``revision = "NNNN"`` and
``down_revision`` = the previous one, an ``upgrade()`` that is safe on SQLite and PostgreSQL
(check with :func:`has_column` before altering: SQLite runs DDL outside the transaction), set
``SCHEMA_HEAD`` in :mod:`plugin_core.registry.migrate` to it, and change
:mod:`plugin_core.registry.schema` to match. A migration is a snapshot: it spells out its own
tables and columns and never imports the current schema.
"""

from __future__ import annotations

from typing import Any


def has_table(bind: Any, table: str) -> bool:
    """Whether the connected database has ``table``."""
    from sqlalchemy import inspect

    return bool(inspect(bind).has_table(table))


def has_column(bind: Any, table: str, column: str) -> bool:
    """Whether ``table`` of the connected database has ``column``."""
    from sqlalchemy import inspect

    return any(info["name"] == column for info in inspect(bind).get_columns(table))
