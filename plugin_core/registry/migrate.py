"""Bringing a registry's schema to this outlive's revision, once, when it is opened.

The schema is versioned by Alembic (:mod:`plugin_core.registry.migrations`) in the table
``outlive_schema_version`` (not Alembic's default ``alembic_version``, which a PostgreSQL
database shared with Airflow or Prefect already holds). Opening a registry:

1. reads that one row with plain SQLAlchemy: at :data:`SCHEMA_HEAD`, nothing else happens
   (Alembic is not even imported, so a CLI call stays cheap);
2. else takes the registry's lock named ``schema`` (a ``flock`` beside a SQLite file, an
   advisory lock on PostgreSQL, as for claims), reads the revision again (another opener may
   have upgraded meanwhile) and runs the missing migrations. A database written by outlive
   0.1.0 has no version row; its first migration creates only what is missing.

A database at a revision this outlive does not know was upgraded by a newer outlive: it is
refused with a :class:`RegistryError` that names both revisions and says to upgrade outlive.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugin_core.errors import RegistryError
from plugin_core.registry.sql_errors import translated

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

SCHEMA_HEAD = "0002"  # the newest revision in migrations/versions (a test checks they agree)
VERSION_TABLE = "outlive_schema_version"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def ensure_current(engine: Engine, lock: Callable[[], AbstractContextManager[None]]) -> None:
    """Upgrade the schema behind ``engine`` to :data:`SCHEMA_HEAD` unless it is there; the
    upgrade runs holding ``lock()``, so concurrent first opens upgrade once."""
    if current_revision(engine) == SCHEMA_HEAD:
        return
    with lock():
        upgrade(engine)


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database; None when there is none (a new or a
    0.1.0 database) or it cannot be read now (the upgrade then reports why)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            found = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except SQLAlchemyError:
        return None
    return str(found) if found is not None else None


def upgrade(engine: Engine) -> None:
    """Run every migration the database lacks, in one transaction where the database has
    transactional DDL (PostgreSQL); SQLite's migrations are written to be re-runnable."""
    from alembic.runtime.migration import MigrationContext

    with translated("the registry schema"), engine.begin() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        found = context.get_current_revision()
        if found == SCHEMA_HEAD:
            return
        _run(conn, found)


def _run(conn: Connection, found: str | None) -> None:
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    try:
        if found is not None:
            script.get_revision(found)
    except CommandError:
        raise RegistryError(newer_schema_message(found)) from None

    def steps(revision: Any, _context: Any) -> Any:
        return script._upgrade_revs(SCHEMA_HEAD, revision)

    with EnvironmentContext(config, script, fn=steps, destination_rev=SCHEMA_HEAD) as env:
        env.configure(connection=conn, version_table=VERSION_TABLE)
        with env.begin_transaction():
            env.run_migrations()


def newer_schema_message(found: str | None) -> str:
    """The one wording for a database upgraded by a newer outlive."""
    from plugin_core import __version__

    return (
        f"The registry's schema is at revision {found!r}, which this outlive ({__version__}, "
        f"schema revision {SCHEMA_HEAD!r}) does not know: a newer outlive upgraded it. Upgrade "
        "outlive here (pip install -U outlive); the data is fine."
    )
