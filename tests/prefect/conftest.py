"""Real Prefect for the adapter tests: one temporary server for the session, isolated homes.

``PREFECT_HOME`` must point at a temporary directory before Prefect is
imported (its settings are read at import), so it is set at collection time;
the harness then gives the session a fresh SQLite database and a local API
server. ``OUTLIVE_HOME`` is a temporary directory too, so the registry and the
service runtime files never touch the user's.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="outlive-prefect-home-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

try:
    import prefect  # noqa: F401
except ImportError:
    if os.environ.get("CI") == "true":  # CI installs the prefect extra; never skip silently there
        raise
    # Outside CI, a venv without the extra simply does not collect these tests.
    collect_ignore_glob = ["test_*.py"]
else:
    import plugin_core as core
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def outlive_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private OUTLIVE_HOME (registry and runtime files) for the whole prefect session."""
    home = tmp_path_factory.mktemp("outlive-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTLIVE_HOME", str(home))
        mp.delenv("OUTLIVE_REGISTRY_URL", raising=False)
        yield home
        _stop_everything()


def _stop_everything() -> None:
    """Stop every service the tests registered, so no server outlives the test session."""
    for service in core.find_services():
        try:
            core.stop_service(service, timeout=5.0, force=True)
        except core.OutliveError as exc:  # report, then keep cleaning the others
            print(f"could not stop {service.config.service_name}: {exc}", file=sys.stderr)


@pytest.fixture(scope="session")
def prefect_api(outlive_home: Path) -> Iterator[str]:
    """A temporary Prefect server (SQLite in a temp dir) for the session; yields its API URL."""
    with prefect_test_harness(server_startup_timeout=90):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(autouse=True)
def _prefect(prefect_api: str) -> str:
    """Every test here runs against the session's Prefect server."""
    return prefect_api


@pytest.fixture
def run_env(prefect_api: str, outlive_home: Path) -> dict[str, str]:
    """Environment for a flow run in a separate process, as a worker would start it."""
    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=prefect_api,
        PREFECT_HOME=_PREFECT_HOME,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        OUTLIVE_HOME=str(outlive_home),
        PYTHONPATH=os.pathsep.join([str(HERE.parents[1]), env.get("PYTHONPATH", "")]),
    )
    return env


@pytest.fixture
def http_command() -> list[str]:
    """A real HTTP service: Python's file server on the port outlive assigns."""
    return [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
