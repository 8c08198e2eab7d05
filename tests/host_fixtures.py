"""Fixtures for cross-host tests: namespaces, a real PostgreSQL server, two simulated hosts.

Imported by the test modules that need them (``from tests.host_fixtures import ...``), so
the tests of one directory do not pay for a server the others never use.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import in_ci
from tests.hosts import SimulatedHost, unshare_available
from tests.postgres import PostgresServer, PostgresUnavailable

CALLERS_PER_HOST = 10

# A snippet run on a host: the registry it shares, and a cheap service with no endpoint
# (ACTIVE once its process has stayed up 0.3 s); the sleep argument makes it findable.
SETUP = """
import json, os, socket
from plugin_core import (
    CommandService, CommandServiceConfig, ContainerService, OutliveError, delete_service,
    get_service, service_info, start_service, stop_service, update_service,
)
from plugin_core.processes import all_marked_processes
from plugin_core.registry.store import ServiceRegistry

def sleeper(name, tag, cls=CommandService):
    return cls(config=CommandServiceConfig(name=name, command=["sleep", f"86400.{tag}"], startsecs=0.3))

def running(tag):
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\\0")
        except OSError:
            continue
        if argv[:2] == [b"sleep", f"86400.{tag}".encode()]:
            found.append(int(entry))
    return found
"""


def postgres_server(base: Path) -> PostgresServer:
    """A started server with its data in ``base``; skip without one (fail under CI)."""
    try:
        return PostgresServer(base).start()
    except PostgresUnavailable as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def namespaces() -> None:
    reason = unshare_available()
    if reason:
        if in_ci():
            pytest.fail(f"cross-host tests need namespaces in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres(namespaces: None) -> Iterator[PostgresServer]:
    base = Path(tempfile.mkdtemp(prefix="outlive-pg-hosts-"))
    base.chmod(0o755)
    server = postgres_server(base)
    yield server
    server.stop()


@pytest.fixture
def two_hosts(postgres: PostgresServer, tmp_path: Path) -> Iterator[tuple[SimulatedHost, SimulatedHost]]:
    """host-a and host-b sharing the registry, each running snippets in its agent process."""
    yield from _hosts(postgres, tmp_path, callers=0)


@pytest.fixture
def racing_hosts(
    postgres: PostgresServer, tmp_path: Path
) -> Iterator[tuple[SimulatedHost, SimulatedHost]]:
    """Like :func:`two_hosts`, plus CALLERS_PER_HOST caller processes on each, for fan_out."""
    yield from _hosts(postgres, tmp_path, callers=CALLERS_PER_HOST)


def _hosts(
    postgres: PostgresServer, tmp_path: Path, *, callers: int
) -> Iterator[tuple[SimulatedHost, SimulatedHost]]:
    _reset(postgres.url)
    with (
        SimulatedHost("host-a", tmp_path / "a", postgres.url, callers=callers) as a,
        SimulatedHost("host-b", tmp_path / "b", postgres.url, callers=callers) as b,
    ):
        for host in (a, b):
            host.run(SETUP)
            if callers:
                host.fan_out(SETUP)
        yield a, b


def _reset(url: str) -> None:
    from plugin_core.registry.schema import metadata
    from plugin_core.registry.store import ServiceRegistry

    engine = ServiceRegistry(url).engine
    metadata.drop_all(engine)
    metadata.create_all(engine)
