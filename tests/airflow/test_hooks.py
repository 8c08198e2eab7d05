"""OutliveRegistryHook: connection to registry URL, secrets kept out of logs."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.airflow.conftest import SKIP_REASON

pytest.importorskip("airflow.sdk", reason=SKIP_REASON)

from airflow_ext.hooks import OutliveRegistryHook, connection_to_url, redact_url

SECRET = "s3cr:et@1/x"


def connection(**fields: object):  # type: ignore[no-untyped-def]
    from airflow.sdk import Connection

    return Connection(conn_id="reg", conn_type="outlive", **fields)  # type: ignore[arg-type]


class TestConnectionToUrl:
    def test_sqlite_path_from_extra(self) -> None:
        """extra.path names a SQLite registry file."""
        assert connection_to_url(connection(extra=json.dumps({"path": "/data/reg.db"}))) == (
            "sqlite:////data/reg.db"
        )

    def test_postgres_from_fields_quotes_the_password(self) -> None:
        """Host, login, password and schema make a psycopg URL; special characters survive."""
        url = connection_to_url(
            connection(host="db.internal", login="svc", password=SECRET, schema="registry")
        )
        assert url == "postgresql+psycopg://svc:s3cr%3Aet%401%2Fx@db.internal:5432/registry"

    def test_explicit_url_wins(self) -> None:
        """extra.url passes any SQLAlchemy URL through unchanged."""
        url = "postgresql+psycopg://a@h:6543/d"
        assert connection_to_url(connection(host="ignored", extra=json.dumps({"url": url}))) == url

    def test_empty_connection_means_core_default(self) -> None:
        """A connection that names nothing falls back to the core's default registry."""
        assert connection_to_url(connection()) is None

    def test_redact_hides_only_the_password(self) -> None:
        """Logged URLs keep user, host and database but not the password."""
        url = "postgresql+psycopg://svc:s3cr%3Aet%401@db:5432/reg"
        assert redact_url(url) == "postgresql+psycopg://svc:***@db:5432/reg"
        assert redact_url("sqlite:////x.db") == "sqlite:////x.db"


class TestHook:
    def test_reads_a_real_connection_and_never_logs_the_password(
        self, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """An AIRFLOW_CONN_* connection resolves (sync and async) and the log shows ***."""
        conn = {
            "conn_type": "outlive",
            "host": "db",
            "login": "svc",
            "password": SECRET,
            "schema": "r",
        }
        monkeypatch.setenv("AIRFLOW_CONN_OUTLIVE_PG", json.dumps(conn))
        url = OutliveRegistryHook("outlive_pg").get_registry_url()
        async_url = asyncio.run(OutliveRegistryHook.aget_registry_url("outlive_pg"))
        assert url == async_url
        assert url is not None and url.startswith("postgresql+psycopg://svc:")
        logged = "".join(capfd.readouterr())
        assert "svc:***@db:5432/r" in logged
        assert "s3cr" not in logged

    def test_sqlite_connection_opens_a_working_registry(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: object
    ) -> None:
        """The registry built from a connection is usable, and the UI test button says so."""
        db = f"{tmp_path}/reg.db"
        monkeypatch.setenv(
            "AIRFLOW_CONN_OUTLIVE_FILE", json.dumps({"conn_type": "outlive", "extra": {"path": db}})
        )
        hook = OutliveRegistryHook("outlive_file")
        assert hook.get_registry().find() == []
        assert hook.test_connection() == (True, "Registry reachable; 0 service(s) registered")

    def test_no_connection_uses_the_core_default(self) -> None:
        """outlive_conn_id=None needs no Airflow connection at all."""
        assert OutliveRegistryHook(None).get_registry_url() is None
