"""The registry store: SQLite by default, any SQLAlchemy URL (PostgreSQL for several machines).

Every SQLAlchemy error is translated into a :class:`RegistryError` by
:func:`plugin_core.registry.sql_errors.translated`, the one place outlive touches the database
driver's exceptions. Opening a registry brings its schema up to date
(:mod:`plugin_core.registry.migrate`). Writes are single transactions; updates carry the version read, so
two writers never silently overwrite each other. :meth:`ServiceRegistry.claim` is the
registry-wide lock for a read-decide-write that must not interleave with another host's
(a start, stop or update of one name; any shared document's read-modify-write).

Every row read goes through one quarantine path: :meth:`ServiceRegistry._record` reads the
columns as stored (timestamps too, as raw values) and notes what is malformed in
``ServiceRecord.defect``; :meth:`ServiceRegistry._load` turns a defect, or anything that does
not load back into a service, into a :class:`CorruptRecordError` naming the record and the
fix. One bad row never breaks a listing, and ``delete`` still finds it by name or uuid. A row
in a record format newer than this outlive reads is quarantined the same way, with "upgrade
outlive" as the fix instead.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugin_core.errors import (
    ConcurrentUpdateError,
    ConfigError,
    CorruptRecordError,
    DuplicateServiceError,
    OutliveError,
    ServiceNotFoundError,
)
from plugin_core.locks import advisory_key, file_lock, held_once, memory_lock
from plugin_core.paths import outlive_home
from plugin_core.registry.decoded import DecodedRecords
from plugin_core.registry.sql_errors import translated

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from plugin_core.service import BaseService

logger = logging.getLogger(__name__)
REGISTRY_URL_ENV = "OUTLIVE_REGISTRY_URL"
_ENGINES: dict[str, Engine] = {}
_CLAIM_ENGINES: dict[str, Engine] = {}
DECODED = DecodedRecords()  # what this process decoded, by exact stored text (see decoded.py)
_ENGINES_LOCK = threading.RLock()  # reentrant: creating an engine upgrades its schema under a claim
_PARENTS_ENGINES: list[Engine] = []


def _leave_parents_engines() -> None:
    """In a forked child (a daemon forked from its starter): the pooled connections are the
    parent's, and using or even closing one here (a SQLite handle and its shared memory, a
    PostgreSQL session) would disturb the parent's. Keep them referenced, so they are never
    closed here, and let this process open its own on first use."""
    _PARENTS_ENGINES.extend([*_ENGINES.values(), *_CLAIM_ENGINES.values()])
    _ENGINES.clear()
    _CLAIM_ENGINES.clear()


os.register_at_fork(after_in_child=_leave_parents_engines)


def close_sqlite_connections_before_fork() -> bool:
    """Close this process's idle pooled SQLite connections, so that a child forked next
    starts with none; False (close nothing) while one is checked out.

    SQLite keeps per-process state for every open database file (its POSIX locks and the
    WAL's shared-memory mapping). A forked child inherits that state but not the locks, so a
    connection the child opens to the same file shares a broken lock table: its first write
    can wait forever (a forked WorkflowService registering its replica did). With every
    connection closed before the fork, the child's SQLite starts clean. The next use in this
    process reopens a connection (~0.2 ms).
    """
    from sqlalchemy.pool import QueuePool

    with _ENGINES_LOCK:
        engines = [
            engine
            for engine in (*_ENGINES.values(), *_CLAIM_ENGINES.values())
            if engine.dialect.name == "sqlite"
        ]
        for engine in engines:
            if not isinstance(engine.pool, QueuePool) or engine.pool.checkedout():
                return False
        for engine in engines:
            engine.dispose()
    return True
# The listing every status query, ``outlive list`` and prune start with: the SQLite text of
# ``_raw_select().order_by(created_at)`` (tests/core/test_registry.py pins the two together).
# On an existing SQLite file it runs through the stdlib's sqlite3, so a CLI listing does not
# import SQLAlchemy (~70 ms, more than the rest of ``outlive list``); whatever that read cannot
# do (no such table or column yet, a locked file) goes the SQLAlchemy way, which also creates
# and upgrades the schema. Writes always go through SQLAlchemy.
LISTING_SQL = (
    "SELECT outlive_services.uuid, outlive_services.name, outlive_services.type, "
    "outlive_services.flavor, outlive_services.admin_state, outlive_services.state, "
    "outlive_services.config, outlive_services.status, outlive_services.endpoint, "
    "outlive_services.created_at AS created_at, outlive_services.updated_at AS updated_at, "
    "outlive_services.version, outlive_services.record_format "
    "FROM outlive_services ORDER BY outlive_services.created_at"
)


@dataclass(frozen=True)
class ServiceRecord:
    """One registry row as plain data, before it is turned into a service object."""

    uuid: str
    name: str
    type: str
    admin_state: str
    state: str
    config: str
    status: str
    endpoint: str | None
    labels: dict[str, str]
    created_at: datetime | None
    updated_at: datetime | None
    version: int
    defect: str = ""  # why this row cannot be loaded ("" when it can, as far as the row shows)
    record_format: int = 1  # the record format the row was written in (see model.typed)


def default_registry_url() -> str:
    """``$OUTLIVE_REGISTRY_URL``, else SQLite at ``$OUTLIVE_HOME/registry.db``."""
    return os.environ.get(REGISTRY_URL_ENV) or f"sqlite:///{outlive_home() / 'registry.db'}"


class ServiceRegistry:
    """Records of services, found by name, uuid, labels, type or config."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_registry_url()
        self.corrupt_records: list[CorruptRecordError] = []

    def __repr__(self) -> str:
        return f"ServiceRegistry({_redacted(self.url)!r})"

    @property
    def engine(self) -> Engine:
        """A shared engine per URL, created (and the schema with it) on first use."""
        with _ENGINES_LOCK:
            engine = _ENGINES.get(self.url)
            if engine is None:
                engine = _create_engine(self.url)
                _ENGINES[self.url] = engine
        return engine

    # -- claims ---------------------------------------------------------------------------------

    @contextmanager
    def claim(self, name: str, *, scope: str = "service") -> Iterator[None]:
        """Hold the registry-wide claim on ``name`` while the block runs.

        Every caller sharing this registry, on any host, waits here while another holds the
        claim, so a read-decide-write inside the block never interleaves with theirs.
        PostgreSQL: a session-level advisory lock on a stable 64-bit hash of ``scope`` and
        ``name``, held by a dedicated connection (the server releases it if the holder dies or
        its connection drops). SQLite: a ``flock`` beside the database file, enough because a
        SQLite registry serves one host. Claims nest within a thread. ``scope`` keeps claims
        of different kinds of things (a service, a shared config document) apart.
        """
        engine = self.engine
        with held_once(f"{self.url}\0{scope}\0{name}", lambda: _lock(engine, self.url, scope, name)):
            yield

    # -- writes ---------------------------------------------------------------------------------

    def save(self, service: BaseService) -> None:
        """Insert the service, or update it if the version it was read at is still current."""
        row = _row_of(service)
        now = datetime.now(timezone.utc)
        sql = _statements()
        with translated(f"service {service.config.service_name!r}"), self.engine.begin() as conn:
            version = service.registry_version
            if version is None:
                self._ensure_name_free(conn, service)
                conn.execute(sql.insert_service, {**row, "created_at": now, "updated_at": now, "version": 1})
                service.registry_version = 1
            else:
                result = conn.execute(
                    sql.update_service,
                    {**row, "updated_at": now, "version": version + 1,
                     "match_uuid": row["uuid"], "match_version": version},
                )  # fmt: skip
                if result.rowcount != 1:
                    raise _stale(conn, service, version)
                service.registry_version = version + 1
            self._write_labels(conn, row["uuid"], service.config.get_service_labels())

    def delete(self, key: str) -> None:
        """Remove a record (by name or uuid); its labels go with it."""
        record = self.get_record(key)
        sql = _statements()
        with translated(f"service {key!r}"), self.engine.begin() as conn:
            conn.execute(sql.delete_labels, {"match_uuid": record.uuid})
            conn.execute(sql.delete_service, {"match_uuid": record.uuid})
        DECODED.forget(record.uuid)

    # -- reads ----------------------------------------------------------------------------------

    def get(self, key: str) -> BaseService:
        """The service named ``key`` (or with uuid ``key``); raises if missing or corrupted."""
        return self._load(self.get_record(key))

    def get_or_none(self, key: str) -> BaseService | None:
        """Like :meth:`get`, but None when no such service is registered."""
        try:
            return self.get(key)
        except ServiceNotFoundError:
            return None

    def get_record(self, key: str) -> ServiceRecord:
        """The raw record for a name or uuid (a malformed one too, with its ``defect``)."""
        with translated(f"service {key!r}"), self.engine.connect() as conn:
            row = conn.execute(_statements().by_key, {"key": key}).first()
            if row is None:
                raise ServiceNotFoundError(key)
            return self._record(conn, row)

    def stamp(self, key: str) -> tuple[str, int] | None:
        """``(uuid, version)`` of the record for a name or uuid, or None: one cheap query that
        tells a waiter whether its copy is still the current one."""
        with translated(f"service {key!r}"), self.engine.connect() as conn:
            row = conn.execute(_statements().stamp, {"key": key}).first()
        if row is None:
            return None
        version = row.version if isinstance(row.version, int) else -1  # corrupt: reload, then fail
        return str(row.uuid), version

    def find(
        self,
        *,
        name: str | None = None,
        type: str | None = None,
        labels: dict[str, str] | None = None,
        config: Any = None,
        state: str | None = None,
        each: Callable[[BaseService], None] | None = None,
    ) -> list[BaseService]:
        """Services matching every given filter. Corrupted records are skipped and kept in
        :attr:`corrupt_records`, so one bad row never hides the others. ``each`` is called
        with every service found as soon as it is decoded (the rows are read first, in one
        query), so a caller can start on it while the next records decode."""
        self.corrupt_records = []
        if config is not None:
            labels = {**config.get_service_labels(), **(labels or {})}
        wanted = config.to_dict() if config is not None else None
        found = []
        for record in self.list_records(name=name, type=type, labels=labels, state=state):
            try:
                service = self._load(record)
            except CorruptRecordError as exc:
                logger.warning("%s", exc)
                self.corrupt_records.append(exc)
                continue
            if wanted is None or service.config.to_dict() == wanted:
                found.append(service)
                if each is not None:
                    each(service)
        return found

    def list_records(
        self,
        *,
        name: str | None = None,
        type: str | None = None,
        labels: dict[str, str] | None = None,
        state: str | None = None,
    ) -> list[ServiceRecord]:
        """Raw records matching the filters, oldest first."""
        if name is None and type is None and labels is None and state is None:
            listed = _sqlite_listing(self.url)
            if listed is not None:
                return [self._record(None, row, fetch_labels=False) for row in listed]
        query = _listing(name is not None, type is not None, state is not None, len(labels or {}))
        params: dict[str, Any] = {"name": name, "state": state}
        if type is not None:  # any name records of that class hold (0.1.0 stored import paths)
            from plugin_core.model.type_names import names_of

            params["types"] = sorted(names_of(type))
        for index, (key, value) in enumerate((labels or {}).items()):
            params[f"key_{index}"], params[f"value_{index}"] = key, value
        with translated(f"service {name!r}" if name else "the service list"), self.engine.connect() as conn:
            rows = conn.execute(query, params).all()
            return [self._record(conn, row, fetch_labels=False) for row in rows]

    # -- helpers --------------------------------------------------------------------------------

    def _ensure_name_free(self, conn: Connection, service: BaseService) -> None:
        holder = conn.execute(
            _statements().name_holder, {"name": service.config.service_name}
        ).scalar()
        if holder is not None and holder != str(service.uuid):
            raise DuplicateServiceError(
                f"A service named {service.config.service_name!r} is already registered "
                f"(uuid {holder}). Stop or delete it first, or choose another name."
            )

    def _write_labels(self, conn: Connection, uuid: str, labels: dict[str, str]) -> None:
        sql = _statements()
        conn.execute(sql.delete_labels, {"match_uuid": uuid})
        if labels:
            conn.execute(
                sql.insert_labels,
                [{"uuid": uuid, "key": key, "value": value} for key, value in labels.items()],
            )

    def _record(self, conn: Connection | None, row: Any, fetch_labels: bool = True) -> ServiceRecord:
        """A row as plain data, never raising for what it holds: a malformed column (a bad
        timestamp, a non-integer version, a non-text label) becomes the record's ``defect``."""
        labels: dict[str, str] = {}
        defects: list[str] = []
        if fetch_labels:
            assert conn is not None, "labels are read through SQLAlchemy"
            for key, value in conn.execute(_statements().labels_of, {"match_uuid": row.uuid}):
                if isinstance(key, str) and isinstance(value, str):
                    labels[key] = value
                else:
                    defects.append(f"label {key!r} is not text")
        created_at, updated_at = (
            _timestamp(row.created_at, "created_at", defects),
            _timestamp(row.updated_at, "updated_at", defects),
        )
        version = row.version
        if not isinstance(version, int) or isinstance(version, bool):
            defects.append(f"column version holds {version!r}, not an integer")
            version = 0
        record_format = row.record_format
        if not isinstance(record_format, int) or isinstance(record_format, bool):
            defects.append(f"column record_format holds {record_format!r}, not an integer")
            record_format = 1
        for column in ("name", "type", "admin_state", "config", "status"):
            if not isinstance(getattr(row, column), str):
                defects.append(f"column {column} holds {getattr(row, column)!r}, not text")
        return ServiceRecord(
            uuid=str(row.uuid),
            name=str(row.name),
            type=str(row.type),
            admin_state=str(row.admin_state),
            state=str(row.state),
            config=str(row.config),
            status=str(row.status),
            endpoint=row.endpoint if isinstance(row.endpoint, str) else None,
            labels=labels,
            created_at=created_at,
            updated_at=updated_at,
            version=version,
            defect="; ".join(defects),
            record_format=record_format,
        )

    def _load(self, record: ServiceRecord) -> BaseService:
        """The service a record describes, or CorruptRecordError naming it and the fix."""
        if record.defect:
            raise CorruptRecordError(record.name, record.uuid, record.defect)
        service = DECODED.get(record)  # only ever a record in the current format
        if service is not None:
            service.attach_registry(self)
            return service
        from plugin_core.model.addresses import stored_records
        from plugin_core.model.typed import RECORD_FORMAT, newer_format_message
        from plugin_core.service import BaseService

        if record.record_format > RECORD_FORMAT:
            reason = newer_format_message("it", record.record_format)
            raise CorruptRecordError(record.name, record.uuid, reason, fix="")
        try:
            with stored_records():
                service = BaseService.from_model(record)
        except OutliveError as exc:
            raise CorruptRecordError(record.name, record.uuid, str(exc)) from None
        except Exception as exc:  # stored data is untrusted: quarantine, never crash
            # JSON too deep (RecursionError), a stored type whose module fails to import, a
            # field pydantic refuses (ValueError)...: this record is unusable, the others are not.
            text = str(exc).splitlines()[0] if str(exc) else ""
            plain = isinstance(exc, (ValueError, TypeError)) and text
            reason = text if plain else f"{type(exc).__name__}: {text}".rstrip(": ")
            raise CorruptRecordError(record.name, record.uuid, reason) from None
        DECODED.keep(record, service)
        service.attach_registry(self)
        return service


def _lock(engine: Engine, url: str, scope: str, name: str) -> AbstractContextManager[None]:
    """The registry-wide lock on ``name`` that this kind of database can enforce."""
    if engine.dialect.name == "postgresql":
        return _advisory_lock(url, name, advisory_key(scope, name))
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        return file_lock(Path(database).parent / f"{Path(database).name}.locks", scope, name)
    if engine.dialect.name == "sqlite":
        return memory_lock(url, scope, name)
    logger.warning(
        "Registry %s (%s) has no cross-host lock in outlive: claims on %r hold on this "
        "host only; use PostgreSQL to share a registry between hosts.",
        _redacted(url), engine.dialect.name, name,
    )
    return file_lock(outlive_home() / "locks", url, scope, name)


@dataclass(frozen=True)
class _Statements:
    """The statements of single-record reads and writes, values left as bound parameters."""

    insert_service: Any
    update_service: Any  # WHERE uuid = :match_uuid AND version = :match_version
    delete_service: Any
    name_holder: Any
    by_key: Any  # a name or a uuid
    stamp: Any
    labels_of: Any
    delete_labels: Any
    insert_labels: Any


@functools.cache
def _statements() -> _Statements:
    """Built once per process: composing a statement (clauses, coercions, its cache key) cost
    SQLAlchemy about three times what SQLite takes to run it, so a save was mostly Python
    (0.53 ms, 0.13 ms with these) and a start pays two saves before its service is launched."""
    from sqlalchemy import bindparam, delete, insert, or_, select, update

    from plugin_core.registry.schema import service_labels, services

    key = or_(services.c.name == bindparam("key"), services.c.uuid == bindparam("key"))
    return _Statements(
        insert_service=insert(services),
        update_service=update(services).where(
            services.c.uuid == bindparam("match_uuid"),
            services.c.version == bindparam("match_version"),
        ),
        delete_service=delete(services).where(services.c.uuid == bindparam("match_uuid")),
        name_holder=select(services.c.uuid).where(services.c.name == bindparam("name")),
        by_key=_raw_select().where(key),
        stamp=select(services.c.uuid, services.c.version).where(key),
        labels_of=select(service_labels.c.key, service_labels.c.value).where(
            service_labels.c.uuid == bindparam("match_uuid")
        ),
        delete_labels=delete(service_labels).where(service_labels.c.uuid == bindparam("match_uuid")),
        insert_labels=insert(service_labels),
    )


@functools.lru_cache(maxsize=64)
def _listing(name: bool, type: bool, state: bool, labels: int) -> Any:
    """The listing query for one shape of filters, values left as bound parameters: built
    once, so a lookup spends its time in the database, not in composing SQL."""
    from sqlalchemy import bindparam, select

    from plugin_core.registry.schema import service_labels, services

    query = _raw_select().order_by(services.c.created_at)
    if name:
        query = query.where(services.c.name == bindparam("name"))
    if type:
        query = query.where(services.c.type.in_(bindparam("types", expanding=True)))
    if state:
        query = query.where(services.c.state == bindparam("state"))
    for index in range(labels):
        matching = select(service_labels.c.uuid).where(
            service_labels.c.key == bindparam(f"key_{index}"),
            service_labels.c.value == bindparam(f"value_{index}"),
        )
        query = query.where(services.c.uuid.in_(matching))
    return query


def _sqlite_listing(url: str) -> list[Any] | None:
    """The rows of :data:`LISTING_SQL` from an existing SQLite registry file through the
    stdlib's sqlite3 (attribute access, as SQLAlchemy rows), or None: take the SQLAlchemy way."""
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    if not path or "?" in path or path == ":memory:" or not os.path.isfile(path):
        return None
    import sqlite3
    from types import SimpleNamespace

    from plugin_core.registry.migrate import SCHEMA_HEAD, VERSION_TABLE

    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
            # Only a registry at this outlive's schema revision: an older one is upgraded (and
            # a newer one refused) on the SQLAlchemy way, by plugin_core.registry.migrate.
            revision = db.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
            if revision is None or revision[0] != SCHEMA_HEAD:
                return None
            cursor = db.execute(LISTING_SQL)
            names = [column[0] for column in cursor.description]
            return [SimpleNamespace(**dict(zip(names, values, strict=True))) for values in cursor]
    except sqlite3.Error:
        return None


def _raw_select() -> Any:
    """``SELECT`` of every service column, the timestamps as stored: SQLAlchemy's own parsing
    would raise for a malformed one in the middle of a listing; :func:`_timestamp` does not."""
    from sqlalchemy import String, select, type_coerce

    from plugin_core.registry.schema import services

    columns = [
        type_coerce(column, String).label(column.name)
        if column.name in ("created_at", "updated_at")
        else column
        for column in services.columns
    ]
    return select(*columns)


def _timestamp(value: Any, column: str, defects: list[str]) -> datetime | None:
    """A stored timestamp as a datetime (drivers give a datetime or ISO text), else a defect."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    defects.append(f"column {column} holds {value!r}, not a timestamp")
    return None


def _stale(conn: Connection, service: BaseService, version: int) -> ConcurrentUpdateError:
    """The error for a write based on version ``version`` when the record has moved on."""
    from sqlalchemy import select

    from plugin_core.registry.schema import services

    now = conn.execute(
        select(services.c.version, services.c.state).where(services.c.uuid == str(service.uuid))
    ).first()
    name = service.config.service_name
    where = (
        f"it is now at version {now.version} (state: {now.state})"
        if now is not None
        else "it has been deleted"
    )
    return ConcurrentUpdateError(
        f"Service {name!r} changed in the registry since it was read at version {version}: "
        f"{where}; load it again and retry.",
        service_name=name,
        read_version=version,
        current_version=now.version if now is not None else None,
        current_state=now.state if now is not None else None,
    )


def _claim_engine(url: str) -> Engine:
    """An engine only for claims: a holder's own reads and writes then never wait for a pooled
    connection that another claimant holds while it waits for the lock."""
    from sqlalchemy import create_engine

    with _ENGINES_LOCK:
        engine = _CLAIM_ENGINES.get(url)
        if engine is None:
            engine = create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=-1)
            _CLAIM_ENGINES[url] = engine
    return engine


@contextmanager
def _advisory_lock(url: str, subject: str, key: int) -> Iterator[None]:
    """Hold ``pg_advisory_lock(key)`` on a connection of its own for the block's duration.

    Threads of one process queue on a local lock first, so a process holds one connection
    per claimed name however many of its threads want it."""
    with memory_lock(url, str(key)), _session_lock(_claim_engine(url), subject, key):
        yield


@contextmanager
def _session_lock(engine: Engine, subject: str, key: int) -> Iterator[None]:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    with translated(f"the claim on {subject!r}"):
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
    try:
        yield
    finally:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        except SQLAlchemyError:  # the server is gone, and with its session the lock
            logger.debug("could not release the claim on %r; dropping its session", subject)
            conn.invalidate()
        conn.close()


def _row_of(service: BaseService) -> dict[str, Any]:
    from plugin_core.model.typed import RECORD_FORMAT, document_json

    return {
        "uuid": str(service.uuid),
        "name": service.config.service_name,
        "type": service.type,
        "flavor": service.SERVICE_TYPE.flavor,
        "admin_state": service.admin_state.value,
        "state": service.status.state.value,
        "config": document_json(service.config),
        "status": document_json(service.status),
        "endpoint": document_json(service.endpoint) if service.endpoint is not None else None,
        "record_format": RECORD_FORMAT,
    }


def _create_engine(url: str) -> Engine:
    from sqlalchemy import create_engine, event

    from plugin_core.registry.migrate import ensure_current

    if url.startswith("sqlite"):
        _make_private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    else:
        engine = create_engine(url, pool_pre_ping=True)
    ensure_current(engine, lambda: _lock(engine, url, "schema", "registry"))
    return engine


def _make_private_sqlite_file(url: str) -> None:
    path = url.split("///", 1)[1] if "///" in url else ""
    if not path or path == ":memory:":
        return
    db = Path(path)
    try:
        db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(db, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        os.chmod(db, 0o600)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(db) else ""
        raise ConfigError(
            f"Cannot use {db} as the SQLite registry: {exc.strerror or exc}{where}. Fix: give "
            "--registry / OUTLIVE_REGISTRY_URL a file path inside a writable directory."
        ) from None


def _redacted(url: str) -> str:
    """The URL with any password replaced, for logs and reprs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
