"""Real Prefect for the adapter tests: one temporary Prefect server for the session.

``PREFECT_HOME`` must point at a temporary directory before Prefect is imported
(its settings are read at import), so it is set when this directory is
collected; ``prefect_test_harness`` then gives the session a fresh SQLite
database behind a local API server. Each test still gets its own
``OUTLIVE_HOME`` from the root conftest, which stops its services afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

if importlib.util.find_spec("prefect") is None:  # pragma: no cover - depends on the venv
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        raise RuntimeError("CI must run the Prefect tests: install 'outlive[prefect]'")
    pytest.skip(
        "Prefect is not installed in this venv (pip install 'outlive[prefect]')",
        allow_module_level=True,
    )

_PREFECT_HOME = tempfile.mkdtemp(prefix="outlive-prefect-home-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL"] = "0.5"

from prefect.settings import PREFECT_API_URL  # noqa: E402 - after PREFECT_HOME is set
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A temporary Prefect server (SQLite in a temp dir) for the session; yields its API URL."""
    with prefect_test_harness(server_startup_timeout=120):
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
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
    )
    return env


@pytest.fixture
def http_command() -> list[str]:
    """A real HTTP service: Python's file server on the port outlive assigns."""
    return [sys.executable, "-m", "http.server", "{port}", "--bind", "{host}"]
