"""Real Airflow for the adapter tests: a private AIRFLOW_HOME, SQLite metadata DB, CLI subprocesses.

Airflow reads its configuration once per process, at first import. The in-process tests
(hook, trigger, provider info) and every ``airflow`` subprocess must therefore agree on one
AIRFLOW_HOME, which is set here when this directory is collected, before anything imports
Airflow. DAG runs happen in subprocesses (``helpers/run_dags.py``), so the Airflow state of
one scenario never leaks into the pytest process.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: Each test module starts with ``pytest.importorskip("airflow.sdk", reason=SKIP_REASON)``.
SKIP_REASON = (
    "Airflow 3 is not installed in this interpreter's venv: run tests/airflow with a venv that has "
    "`pip install -e '.[airflow,test]'` (Airflow and Prefect need separate venvs, see README)"
)
AIRFLOW_INSTALLED = importlib.util.find_spec("airflow") is not None

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
TEST_DAGS = HERE / "dags" / "outlive_test_dags.py"
EXAMPLE_DAG = REPO / "examples" / "airflow_deploy_model.py"

_ROOT = Path(tempfile.gettempdir()) / f"outlive-airflow-{os.getpid()}"
atexit.register(shutil.rmtree, _ROOT, True)
_REGISTRY_DB = _ROOT / "outlive-home" / "registry.db"
REGISTRY_URL = f"sqlite:///{_REGISTRY_DB}"

_ENV = {
    "AIRFLOW_HOME": str(_ROOT / "airflow-home"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(_ROOT / "dags"),
    "AIRFLOW__CORE__PARALLELISM": "2",
    "AIRFLOW__API__HOST": "127.0.0.1",
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    "AIRFLOW_CONN_OUTLIVE_TEST": json.dumps(
        {"conn_type": "outlive", "extra": {"path": str(_REGISTRY_DB)}}
    ),
    "OUTLIVE_TEST_DIR": str(_ROOT / "markers"),
    "OUTLIVE_EXAMPLE_DIR": str(_ROOT / "example"),
}
if AIRFLOW_INSTALLED:
    os.environ.update(_ENV)  # before any import of Airflow in this process (see module docstring)


@dataclass
class AirflowEnv:
    """Where the test Airflow lives, and how to run things in it."""

    root: Path
    env: dict[str, str]
    registry_url: str = REGISTRY_URL
    markers: Path = field(default_factory=lambda: _ROOT / "markers")

    @property
    def db(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"]) / "airflow.db"

    def run(
        self, args: list[str], *, timeout: float, log_name: str
    ) -> subprocess.CompletedProcess[str]:
        """Run a command with the test environment; its output is kept in ``root/logs``."""
        log = self.root / "logs" / f"{log_name}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("w") as out:
            proc = subprocess.run(
                args,
                env=self.env,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                text=True,
                check=False,
            )
        proc.stdout = log.read_text()
        return proc

    def run_dags(self, *specs: str, log_name: str, timeout: float = 180) -> DagRuns:
        """Run DAGs with ``dag.test()`` in one subprocess; see helpers/run_dags.py."""
        results = self.root / f"{log_name}.json"
        proc = self.run(
            [
                sys.executable,
                str(HERE / "helpers" / "run_dags.py"),
                str(results),
                str(self.root / "dags"),
                *specs,
            ],
            timeout=timeout,
            log_name=log_name,
        )
        assert results.exists(), (
            f"run_dags wrote no results (rc {proc.returncode}):\n{proc.stdout[-4000:]}"
        )
        return DagRuns(json.loads(results.read_text()), proc.stdout, self.db)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the Airflow metadata DB directly (what the UI would show)."""
        with sqlite3.connect(self.db, timeout=30) as conn:
            return conn.execute(query, params).fetchall()


@dataclass
class DagRuns:
    """Outcome of a ``run_dags`` call: per-run results, the whole log, per-task states."""

    results: list[dict[str, Any]]
    output: str
    db: Path

    def result(self, dag_id: str) -> dict[str, Any]:
        return next(r for r in self.results if r["dag_id"] == dag_id)

    def task(self, dag_id: str, task_id: str) -> dict[str, Any]:
        """The task instance row of this DAG's run (state, try_number, duration...)."""
        run_id = self.result(dag_id)["run_id"]
        with sqlite3.connect(self.db, timeout=30) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute(
                "SELECT * FROM task_instance WHERE dag_id=? AND run_id=? AND task_id=?",
                (dag_id, run_id, task_id),
            ).fetchone()
        assert row is not None, f"no task instance {dag_id}.{task_id}"
        return dict(row)

    def xcom(self, dag_id: str, task_id: str, key: str = "return_value") -> Any:
        run_id = self.result(dag_id)["run_id"]
        with sqlite3.connect(self.db, timeout=30) as conn:
            row = conn.execute(
                "SELECT value FROM xcom WHERE dag_id=? AND run_id=? AND task_id=? AND key=?",
                (dag_id, run_id, task_id, key),
            ).fetchone()
        assert row is not None, f"no XCom {key} for {dag_id}.{task_id}"
        value = json.loads(row[0]) if isinstance(row[0], str) else row[0]  # numeric affinity
        return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


@pytest.fixture(scope="session")
def airflow_env() -> Iterator[AirflowEnv]:
    """A migrated SQLite metadata DB and a DAG folder with the test DAGs and the example."""
    env = dict(os.environ)
    env.update(_ENV)
    env["OUTLIVE_HOME"] = str(_REGISTRY_DB.parent)
    env["OUTLIVE_REGISTRY_URL"] = REGISTRY_URL
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    dags = _ROOT / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    for source in (TEST_DAGS, EXAMPLE_DAG):
        (dags / source.name).unlink(missing_ok=True)
        (dags / source.name).symlink_to(source)
    (_ROOT / "markers").mkdir(exist_ok=True)
    _REGISTRY_DB.parent.mkdir(exist_ok=True)
    airflow = AirflowEnv(root=_ROOT, env=env)
    migrated = airflow.run([AIRFLOW, "db", "migrate"], timeout=120, log_name="db-migrate")
    assert migrated.returncode == 0, migrated.stdout[-3000:]
    try:
        yield airflow
    finally:
        _stop_all(REGISTRY_URL)
        shutil.rmtree(_ROOT, ignore_errors=True)


def _stop_all(registry_url: str) -> None:
    """Leave no service of these tests running, whatever a test did."""
    from plugin_core import ServiceRegistry, find_services, stop_service

    registry = ServiceRegistry(registry_url)
    for service in find_services(registry=registry, refresh=False):
        with contextlib.suppress(Exception):  # best effort: must not mask the test result
            stop_service(service, registry=registry, timeout=2, force=True)
