"""The registry: SQLite by default, PostgreSQL for real, atomic and honest about bad records."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest

from plugin_core import (
    CommandService,
    ConcurrentUpdateError,
    CorruptRecordError,
    DuplicateServiceError,
    ServiceNotFoundError,
    ServiceRegistry,
    ServiceState,
    find_services,
    get_service,
)
from tests.conftest import in_ci
from tests.postgres import PostgresServer, PostgresUnavailable


def service(name: str, **labels: str) -> CommandService:
    svc = CommandService.http(name, ["python", "-m", "http.server", "{port}"], labels=labels)
    return svc


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    base = Path(tempfile.mkdtemp(prefix="outlive-pg-"))
    base.chmod(0o755)
    try:
        server = PostgresServer(base).start()
    except PostgresUnavailable as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))
    yield server.url
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def registry(request: pytest.FixtureRequest, outlive_home: Path) -> ServiceRegistry:
    if request.param == "sqlite":
        return ServiceRegistry()
    url = request.getfixturevalue("postgres_url")
    reg = ServiceRegistry(url)
    from plugin_core.registry.schema import metadata

    metadata.drop_all(reg.engine)
    metadata.create_all(reg.engine)
    return reg


class TestRecords:
    def test_save_and_get_by_name_and_uuid(self, registry: ServiceRegistry) -> None:
        svc = service("a", team="ml")
        registry.save(svc)
        by_name = registry.get("a")
        assert by_name.uuid == svc.uuid
        assert registry.get(str(svc.uuid)).config.service_name == "a"
        assert by_name.to_dict() == svc.to_dict()

    def test_find_by_labels_type_and_config(self, registry: ServiceRegistry) -> None:
        registry.save(service("a", team="ml", env="prod"))
        registry.save(service("b", team="ml", env="dev"))
        registry.save(service("c", team="web"))
        assert {s.config.name for s in registry.find(labels={"team": "ml"})} == {"a", "b"}
        assert [s.config.name for s in registry.find(labels={"team": "ml", "env": "dev"})] == ["b"]
        assert len(registry.find(type=service("x").type)) == 3
        assert [s.config.name for s in registry.find(config=service("c", team="web").config)] == ["c"]

    def test_unknown_name_is_a_clear_error(self, registry: ServiceRegistry) -> None:
        with pytest.raises(ServiceNotFoundError, match="outlive list"):
            registry.get("nope")

    def test_a_second_service_cannot_take_a_name(self, registry: ServiceRegistry) -> None:
        registry.save(service("a"))
        with pytest.raises(DuplicateServiceError, match="already registered"):
            registry.save(service("a"))

    def test_stale_write_is_refused(self, registry: ServiceRegistry) -> None:
        registry.save(service("a"))
        first, second = registry.get("a"), registry.get("a")
        first.config.description = "first"
        registry.save(first)
        second.config.description = "second"
        with pytest.raises(ConcurrentUpdateError, match="load it again"):
            registry.save(second)
        assert registry.get("a").config.description == "first"

    def test_delete_removes_record_and_labels(self, registry: ServiceRegistry) -> None:
        registry.save(service("a", team="ml"))
        registry.delete("a")
        assert registry.find(labels={"team": "ml"}) == []


def _increment(args: tuple[str, int]) -> int:
    """Read-modify-write with retry on conflict, as any careful writer does."""
    url, count = args
    registry = ServiceRegistry(url)
    done = 0
    while done < count:
        svc = registry.get("counter")
        svc.config.labels = {**svc.config.labels, "n": str(int(svc.config.labels["n"]) + 1)}
        try:
            registry.save(svc)
            done += 1
        except ConcurrentUpdateError:
            continue
    return done


def test_two_writers_never_lose_an_update(registry: ServiceRegistry) -> None:
    """Optimistic versioning: 4 processes x 15 increments = 60, none lost."""
    registry.save(service("counter", n="0"))
    with get_context("spawn").Pool(4) as pool:
        assert sum(pool.map(_increment, [(registry.url, 15)] * 4)) == 60
    assert registry.get("counter").config.labels["n"] == "60"


class TestSQLiteFile:
    def test_default_database_is_private_and_in_wal_mode(self, outlive_home: Path) -> None:
        ServiceRegistry().save(service("a"))
        db = outlive_home / "registry.db"
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def test_registry_url_env_is_honoured(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OUTLIVE_REGISTRY_URL", f"sqlite:///{tmp_path / 'other.db'}")
        ServiceRegistry().save(service("elsewhere"))
        assert (tmp_path / "other.db").exists()

    def test_corrupted_record_is_named_and_others_stay_readable(self, outlive_home: Path) -> None:
        registry = ServiceRegistry()
        registry.save(service("good"))
        registry.save(service("bad"))
        with sqlite3.connect(outlive_home / "registry.db") as db:
            db.execute("UPDATE outlive_services SET config = '{not json' WHERE name = 'bad'")
        with pytest.raises(CorruptRecordError, match="'bad'"):
            registry.get("bad")
        assert [s.config.name for s in registry.find()] == ["good"]
        assert [e.service_name for e in registry.corrupt_records] == ["bad"]
        assert [s.config.name for s in find_services()] == ["good"]


def test_registry_repr_hides_password() -> None:
    assert "s3cret" not in repr(ServiceRegistry("postgresql+psycopg://u:s3cret@db.example/x"))


@pytest.mark.integration
def test_services_started_against_postgres(postgres_url: str) -> None:
    """A real service recorded in PostgreSQL, found and stopped through it."""
    registry = ServiceRegistry(postgres_url)
    svc = service("pg-web")
    from plugin_core import start_service, stop_service

    start_service(svc, registry=registry, timeout=20)
    assert get_service("pg-web", registry=registry).status.state == ServiceState.ACTIVE
    stop_service("pg-web", registry=registry)
    assert get_service("pg-web", registry=registry).status.state == ServiceState.INACTIVE
    registry.delete("pg-web")


def _increment_under_claim(args: tuple[str, int]) -> int:
    """Read-modify-write with no retry at all: the claim alone must keep writers apart."""
    url, count = args
    registry = ServiceRegistry(url)
    for _ in range(count):
        with registry.claim("counter", scope="document"):
            svc = registry.get("counter")
            svc.config.labels = {**svc.config.labels, "n": str(int(svc.config.labels["n"]) + 1)}
            registry.save(svc)  # a ConcurrentUpdateError here fails the test
    return count


def test_a_claim_serialises_read_modify_write_across_processes(registry: ServiceRegistry) -> None:
    """registry.claim is the one lock for shared state (a service, a config document):
    4 processes x 10 unretried increments = 40, not one conflict."""
    registry.save(service("counter", n="0"))
    with get_context("spawn").Pool(4) as pool:
        assert sum(pool.map(_increment_under_claim, [(registry.url, 10)] * 4)) == 40
    assert registry.get("counter").config.labels["n"] == "40"


def test_claims_nest_within_a_thread_and_exclude_other_threads(registry: ServiceRegistry) -> None:
    import threading

    entered = threading.Event()
    with registry.claim("a"), registry.claim("a"):  # nested: no self-deadlock
        holder = threading.Thread(target=lambda: _claim_and_flag(registry, "a", entered))
        holder.start()
        holder.join(timeout=0.5)
        assert holder.is_alive() and not entered.is_set()  # another thread waits for us
    holder.join(timeout=30)
    assert entered.is_set()
    with registry.claim("b"):  # another name is independent
        pass


def _claim_and_flag(registry: ServiceRegistry, name: str, flag: Any) -> None:
    with registry.claim(name):
        flag.set()


def test_a_stale_write_error_carries_the_current_version(registry: ServiceRegistry) -> None:
    registry.save(service("a"))
    first, second = registry.get("a"), registry.get("a")
    registry.save(first)
    with pytest.raises(ConcurrentUpdateError) as raised:
        registry.save(second)
    assert (raised.value.read_version, raised.value.current_version) == (1, 2)
    assert raised.value.current_state == "inactive" and raised.value.service_name == "a"


def test_many_threads_claiming_one_name_never_starve_the_holder(registry: ServiceRegistry) -> None:
    """More threads than the connection pool holds (15) wait for one claim: the holder still
    gets a connection for its own reads and writes, so all 20 x 3 increments land."""
    from concurrent.futures import ThreadPoolExecutor

    registry.save(service("counter", n="0"))
    with ThreadPoolExecutor(20) as pool:
        done = list(pool.map(lambda _: _increment_under_claim((registry.url, 3)), range(20)))
    assert sum(done) == 60
    assert registry.get("counter").config.labels["n"] == "60"


class TestSqliteListing:
    """The listing read through the stdlib's sqlite3 (no SQLAlchemy import for ``outlive list``)."""

    def test_listing_sql_is_the_schemas_select(self) -> None:
        """LISTING_SQL is exactly what SQLAlchemy compiles from the schema for SQLite."""
        from sqlalchemy.dialects import sqlite

        from plugin_core.registry.schema import services
        from plugin_core.registry.store import LISTING_SQL, _raw_select

        compiled = _raw_select().order_by(services.c.created_at).compile(dialect=sqlite.dialect())
        assert " ".join(str(compiled).split()) == LISTING_SQL

    def test_a_listing_loads_the_same_services_without_sqlalchemy(self, outlive_home: Path) -> None:
        """In a fresh process, find_services(refresh=False) on an existing SQLite registry gives
        the services the registry holds, with their timestamps, and imports no SQLAlchemy."""
        registry = ServiceRegistry()
        for name in ("alpha", "beta"):
            registry.save(service(name, team="x"))
        script = (
            "import json, sys\n"
            "from plugin_core import find_services\n"
            "found = find_services(refresh=False)\n"
            "print(json.dumps({'names': [s.config.service_name for s in found],\n"
            "                  'created': [str(s.created_at) for s in found],\n"
            "                  'sqlalchemy': 'sqlalchemy' in sys.modules}))\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        listed = json.loads(done.stdout.splitlines()[-1])
        assert listed["names"] == ["alpha", "beta"]
        assert listed["created"] == [str(s.created_at) for s in registry.find()]
        assert listed["sqlalchemy"] is False

    def test_a_registry_not_created_yet_is_listed_the_sqlalchemy_way(self, outlive_home: Path) -> None:
        """No database file yet: the listing creates the schema (through SQLAlchemy) and is empty."""
        registry = ServiceRegistry()
        assert registry.list_records() == []
        assert (outlive_home / "registry.db").is_file()
