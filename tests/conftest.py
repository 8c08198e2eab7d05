"""Shared test setup: every test gets a private OUTLIVE_HOME, and its services are stopped after it."""

from __future__ import annotations

import contextlib
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

_skipped: list[str] = []


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With CI=true nothing may skip: a skipped test there is a missing dependency, a failure."""
    if in_ci() and _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nCI=true, yet {len(_skipped)} test(s) skipped: {', '.join(_skipped[:10])}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a ``postgres_url`` or ``postgres`` fixture needs PostgreSQL: mark it
    ``postgres``, so it runs in the nox session that has them (see noxfile.py)."""
    for item in items:
        if {"postgres_url", "postgres"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(autouse=True)
def outlive_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh registry and runtime area per test, so tests never see each other's services."""
    home = tmp_path_factory.mktemp("outlive-home")
    monkeypatch.setenv("OUTLIVE_HOME", str(home))
    monkeypatch.delenv("OUTLIVE_REGISTRY_URL", raising=False)
    yield home
    _stop_everything(home)


def _stop_everything(home: Path) -> None:
    """Leave no process behind, whatever the test did."""
    from plugin_core import ServiceRegistry
    from plugin_core.processes import marked_processes

    db = home / "registry.db"
    if db.exists():
        registry = ServiceRegistry(f"sqlite:///{db}")
        for service in registry.find():
            with contextlib.suppress(Exception):  # cleanup: a broken test's service must not stop the rest
                service.deprovision(force=True)
        for record_error in registry.corrupt_records:
            for process in marked_processes(record_error.uuid):
                process.kill()


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """A real HTTP GET, as a user would check a service."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode(errors="replace")


def in_ci() -> bool:
    """CI must run every test: missing Docker or PostgreSQL there is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
