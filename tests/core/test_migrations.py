"""The registry schema is versioned (Alembic) and upgraded when a registry is opened.

On SQLite and on a real PostgreSQL server: a registry written by outlive 0.1.0 (the checked-in
``tests/fixtures/registry_010.db``, and the same rows in a PostgreSQL database with 0.1.0's
tables) is upgraded on open and every record still loads; several processes opening one old
registry at once upgrade it once; a database upgraded by a newer outlive is refused with the
fix; and opening a current registry does not import Alembic at all.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from multiprocessing import get_context
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from plugin_core import RegistryError, ServiceRegistry
from plugin_core.registry.migrate import MIGRATIONS, SCHEMA_HEAD, VERSION_TABLE
from tests.host_fixtures import postgres_server
from tests.postgres import PostgresServer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "registry_010.db"
ROOT = FIXTURE.parents[2]
NAMES_010 = ["legacy-flow", "legacy-nginx", "legacy-serve", "legacy-tick", "legacy-web"]
TABLES = {
    "outlive_services", "outlive_service_labels", "outlive_workflow_sessions",
    "outlive_workflow_replicas", VERSION_TABLE,
}


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for this module; each test gets its own database on it."""
    base = Path(tempfile.mkdtemp(prefix="outlive-pg-migrations-"))
    base.chmod(0o755)
    server: PostgresServer = postgres_server(base)
    yield server.url
    server.stop()


_databases = iter(range(10_000))


def fresh_postgres(server_url: str) -> str:
    """The URL of a new, empty database on the server."""
    name = f"outlive_m{next(_databases)}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def registry_of_010(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A registry as outlive 0.1.0 left it: the fixture file, or its rows in PostgreSQL in
    tables made by 0.1.0's own schema code (no version table)."""
    if kind == "sqlite":
        db = tmp_path / "registry_010.db"
        shutil.copyfile(FIXTURE, db)
        return f"sqlite:///{db}"
    from tests.fixtures.schema_010 import metadata

    url = fresh_postgres(request.getfixturevalue("postgres_url"))
    source, target = create_engine(f"sqlite:///{FIXTURE}"), create_engine(url)
    metadata.create_all(target)
    with source.connect() as read, target.begin() as write:
        for table in metadata.sorted_tables:
            rows = [dict(row._mapping) for row in read.execute(select(table))]
            write.execute(table.insert(), rows)
    source.dispose()
    target.dispose()
    return url


KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def test_the_schema_head_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_HEAD]


@pytest.mark.parametrize("kind", KINDS)
def test_a_registry_written_by_0_1_0_is_upgraded_on_open(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = registry_of_010(kind, tmp_path, request)
    before = inspect(create_engine(url))
    assert VERSION_TABLE not in before.get_table_names()
    assert "record_format" not in {c["name"] for c in before.get_columns("outlive_services")}
    registry = ServiceRegistry(url)
    assert sorted(s.config.service_name for s in registry.find()) == NAMES_010
    assert registry.corrupt_records == []
    after = inspect(registry.engine)
    assert set(after.get_table_names()) >= TABLES
    with registry.engine.connect() as conn:
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all() == [
            SCHEMA_HEAD
        ]
        formats = conn.execute(text("SELECT DISTINCT record_format FROM outlive_services"))
        assert formats.scalars().all() == [1]


def _open_and_list(url: str) -> list[str]:
    return sorted(s.config.service_name for s in ServiceRegistry(url).find())


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_first_opens_of_an_old_registry_upgrade_it_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Six processes open the same 0.1.0 registry at the same moment: every one of them
    reads every record, and the schema was upgraded exactly once (one version row)."""
    url = registry_of_010(kind, tmp_path, request)
    with get_context("spawn").Pool(6) as pool:
        listings = pool.map(_open_and_list, [url] * 6)
    assert listings == [NAMES_010] * 6
    with create_engine(url).connect() as conn:
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    assert rows == [SCHEMA_HEAD]


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_registry_starts_at_the_head(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'new.db'}"
        if kind == "sqlite"
        else fresh_postgres(request.getfixturevalue("postgres_url"))
    )
    registry = ServiceRegistry(url)
    assert registry.find() == []
    assert set(inspect(registry.engine).get_table_names()) >= TABLES


def test_a_schema_upgraded_by_a_newer_outlive_is_refused_with_the_fix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'future.db'}"
    ServiceRegistry(url).find()
    with sqlite3.connect(tmp_path / "future.db") as db:
        db.execute(f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    code = (
        "import sys\nfrom plugin_core import RegistryError, ServiceRegistry\n"
        "try:\n    ServiceRegistry(sys.argv[1]).find()\n"
        "except RegistryError as exc:\n    print(exc)\n"
    )
    out = run_python(code, url)
    assert "'9999'" in out and f"{SCHEMA_HEAD!r}" in out and "pip install -U outlive" in out


def test_opening_a_current_registry_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.db'}"
    ServiceRegistry(url).find()
    code = (
        "import sys\nfrom plugin_core import ServiceRegistry\n"
        "ServiceRegistry(sys.argv[1]).find()\nprint('alembic' in sys.modules)\n"
    )
    assert run_python(code, url) == "False"


def run_python(code: str, url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_unreachable_server_is_a_registry_error_saying_so(postgres_url: str) -> None:
    """The one SQL-error translation: a refused connection is a RegistryError saying what
    was being done and what to check, on the first open (the schema check) as on any query."""
    host, port = postgres_url.split("@", 1)[1].split("/", 1)[0].split(":")
    closed = postgres_url.replace(f"{host}:{port}", f"{host}:{int(port) + 1}")
    with pytest.raises(RegistryError, match=r"could not be reached .* OUTLIVE_REGISTRY_URL"):
        ServiceRegistry(closed).find()
