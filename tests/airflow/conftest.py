"""Real Airflow for the adapter tests: private AIRFLOW_HOME, SQLite metadata DB, real processes.

Two ways to run a DAG, as users do:

- ``airflow_env.dags_test(dag_id)`` runs ``airflow dags test DAG_ID`` in a subprocess, what a
  user tries first: tasks run in that process, a deferred sensor's trigger runs inline,
  reschedules and retries loop there. The result (a :class:`DagRun`) reads task states and
  XComs from the metadata DB and task logs from the command's output. Every Airflow session
  runs these tests.
- ``airflow_servers.run_dags(...)`` goes through the deployment path: ``dag.test(use_executor=
  True)`` hands every task to a LocalExecutor, which forks a supervised task runner per task
  (its own process group, talking to a real ``airflow api-server``), and deferred sensors wait
  in a real ``airflow triggerer``. Both servers run for the whole session, bound to
  127.0.0.1. Tests that use the ``airflow_servers`` fixture are marked ``airflow_servers``;
  noxfile.py runs them in one Airflow session only.

Airflow reads its configuration once per process, at first import. The in-process tests
(hook, trigger, provider info) and every ``airflow`` subprocess must therefore agree on one
AIRFLOW_HOME, which is set here when this directory is collected, before anything imports
Airflow.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: Each test module starts with ``pytest.importorskip("airflow.sdk", reason=SKIP_REASON)``.
SKIP_REASON = (
    "Airflow 3 is not installed in this interpreter's venv: run `nox -s airflow-3.3` (or a venv "
    "with `pip install '.[airflow,test]'`)"
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_API_PORT = _free_port()
_ENV = {
    "AIRFLOW_HOME": str(_ROOT / "airflow-home"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(_ROOT / "dags"),
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "2",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{_API_PORT}/execution/",
    "AIRFLOW__API__HOST": "127.0.0.1",
    "AIRFLOW__API__PORT": str(_API_PORT),
    "AIRFLOW__API_AUTH__JWT_SECRET": "outlive-tests-only",
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW_CONN_OUTLIVE_TEST": json.dumps(
        {"conn_type": "outlive", "extra": {"path": str(_REGISTRY_DB)}}
    ),
    "OUTLIVE_TEST_DIR": str(_ROOT / "markers"),
    "OUTLIVE_EXAMPLE_DIR": str(_ROOT / "example"),
}
if AIRFLOW_INSTALLED:
    os.environ.update(_ENV)  # before any import of Airflow in this process (see module docstring)


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``condition`` until it is truthy; fail the test naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http_status(url: str) -> int | None:
    """The HTTP status a user would get from ``url``, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except OSError:
        return None


@dataclass
class AirflowEnv:
    """Where the test Airflow lives, and how to run things in it."""

    root: Path
    env: dict[str, str]
    registry_url: str = REGISTRY_URL
    markers: Path = field(default_factory=lambda: _ROOT / "markers")

    @property
    def home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def db(self) -> Path:
        return self.home / "airflow.db"

    def run(
        self, args: list[str], *, timeout: float, log_name: str
    ) -> subprocess.CompletedProcess[str]:
        """Run a command with the test environment; its output is kept in ``root/logs``."""
        with self._log(log_name).open("w") as out:
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
        proc.stdout = self._log(log_name).read_text()
        return proc

    def start(self, args: list[str], *, log_name: str) -> subprocess.Popen[bytes]:
        """Start a long-running command in its own session (so its whole tree can be stopped)."""
        return subprocess.Popen(
            args,
            env=self.env,
            cwd=self.root,
            stdout=self._log(log_name).open("w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def run_dags_command(self, results: Path, *specs: str) -> list[str]:
        """The helpers/run_dags.py command line (executor mode) for these DAG specs."""
        return [
            sys.executable,
            str(HERE / "helpers" / "run_dags.py"),
            "--use-executor",
            str(results),
            str(self.root / "dags"),
            *specs,
        ]

    def run_dags(self, *specs: str, log_name: str, timeout: float = 480) -> DagRuns:
        """Run DAGs through the LocalExecutor, one after the other; see helpers/run_dags.py."""
        results = self.root / f"{log_name}.json"
        proc = self.run(self.run_dags_command(results, *specs), timeout=timeout, log_name=log_name)
        assert results.exists(), (
            f"run_dags wrote no results (rc {proc.returncode}):\n{proc.stdout[-4000:]}"
        )
        return DagRuns(json.loads(results.read_text()), proc.stdout, self)

    def dags_test(
        self,
        dag_id: str,
        *,
        conf: dict[str, Any] | None = None,
        dag_file: Path | None = None,
        log_name: str | None = None,
        timeout: float = 300,
    ) -> DagRun:
        """``airflow dags test DAG_ID`` (``-f dag_file`` for a DAG outside the DAG folder).

        A failed run is a result, not an error: check ``.state`` (and ``.returncode``).
        """
        args = [AIRFLOW, "dags", "test", dag_id]
        if conf is not None:
            args += ["--conf", json.dumps(conf)]
        if dag_file is not None:
            args += ["--dagfile-path", str(dag_file)]
        proc = self.run(args, timeout=timeout, log_name=log_name or f"dags-test-{dag_id}")
        rows = self.sql(
            "SELECT run_id, state FROM dag_run WHERE dag_id=? ORDER BY id DESC LIMIT 1", dag_id
        )
        assert rows, f"airflow dags test {dag_id} made no run (rc {proc.returncode}):\n" + (
            proc.stdout[-4000:]
        )
        run_id, state = rows[0]
        return DagRun(dag_id, run_id, state, proc.stdout, self, returncode=proc.returncode)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the Airflow metadata DB directly (what the UI would show)."""
        with sqlite3.connect(self.db, timeout=30) as conn:
            return conn.execute(query, params).fetchall()

    def _log(self, name: str) -> Path:
        path = self.root / "logs" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


@dataclass
class DagRun:
    """One DAG run: its state, its task instances, XComs and logs, as Airflow recorded them."""

    dag_id: str
    run_id: str
    state: str
    output: str  # of the command that ran it
    airflow: AirflowEnv
    returncode: int | None = None  # of ``airflow dags test``; None for executor runs
    in_process: bool = True  # ``airflow dags test``: task logs are in ``output``

    def task(self, task_id: str) -> dict[str, Any]:
        """The task instance row (state, try_number, start_date, end_date...)."""
        with sqlite3.connect(self.airflow.db, timeout=30) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute(
                "SELECT * FROM task_instance WHERE dag_id=? AND run_id=? AND task_id=?",
                (self.dag_id, self.run_id, task_id),
            ).fetchone()
        assert row is not None, f"no task instance {self.dag_id}.{task_id}"
        return dict(row)

    def task_log(self, task_id: str, *, trigger: bool = False) -> str:
        """The task's log: its stretch of ``airflow dags test`` output (an inline trigger's
        lines included), or the files Airflow stored (all attempts; ``trigger`` for the
        triggerer's part)."""
        if self.in_process:
            return _task_output(self.output, self.dag_id, task_id)
        folder = (
            self.airflow.home
            / "logs"
            / f"dag_id={self.dag_id}"
            / f"run_id={self.run_id}"
            / f"task_id={task_id}"
        )
        pattern = "attempt=*.log.trigger.*.log" if trigger else "attempt=*.log"
        return "\n".join(p.read_text() for p in sorted(folder.glob(pattern)))

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        with sqlite3.connect(self.airflow.db, timeout=30) as conn:
            row = conn.execute(
                "SELECT value FROM xcom WHERE dag_id=? AND run_id=? AND task_id=? AND key=?",
                (self.dag_id, self.run_id, task_id, key),
            ).fetchone()
        assert row is not None, f"no XCom {key} for {self.dag_id}.{task_id}"
        value = json.loads(row[0]) if isinstance(row[0], str) else row[0]  # numeric affinity
        return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


def _task_output(output: str, dag_id: str, task_id: str) -> str:
    """The lines ``airflow dags test`` printed while it ran this task (every attempt)."""
    start = f"[DAG TEST] running task <TaskInstance: {dag_id}.{task_id} "
    lines, inside = [], False
    for line in output.splitlines():
        if "[DAG TEST] running task <TaskInstance: " in line or "[DAG TEST] starting task" in line:
            inside = start in line
        elif "[DAG TEST] end task" in line:
            inside = False
        if inside:
            lines.append(line)
    assert lines, f"no output of task {dag_id}.{task_id} in the dags test output"
    return "\n".join(lines)


@dataclass
class DagRuns:
    """Outcome of a ``run_dags`` call (executor runs): per-run results and the shared output."""

    results: list[dict[str, Any]]
    output: str
    airflow: AirflowEnv

    def result(self, dag_id: str) -> dict[str, Any]:
        return next(r for r in self.results if r["dag_id"] == dag_id)

    def run(self, dag_id: str) -> DagRun:
        result = self.result(dag_id)
        return DagRun(
            dag_id, result["run_id"], result["state"], self.output, self.airflow, in_process=False
        )

    def task(self, dag_id: str, task_id: str) -> dict[str, Any]:
        return self.run(dag_id).task(task_id)

    def task_log(self, dag_id: str, task_id: str, *, trigger: bool = False) -> str:
        return self.run(dag_id).task_log(task_id, trigger=trigger)

    def xcom(self, dag_id: str, task_id: str, key: str = "return_value") -> Any:
        return self.run(dag_id).xcom(task_id, key)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the api-server and triggerer, by the fixture it uses."""
    for item in items:
        if "airflow_servers" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.airflow_servers)


@pytest.fixture(scope="session")
def airflow_env() -> Iterator[AirflowEnv]:
    """A migrated SQLite metadata DB and a DAG folder (the test DAGs and the example)."""
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
    migrated = airflow.run([AIRFLOW, "db", "migrate"], timeout=180, log_name="db-migrate")
    assert migrated.returncode == 0, migrated.stdout[-3000:]
    try:
        yield airflow
    finally:
        _stop_all(REGISTRY_URL)
        shutil.rmtree(_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_servers(airflow_env: AirflowEnv) -> Iterator[AirflowEnv]:
    """``airflow api-server`` and ``airflow triggerer`` for executor runs (``run_dags``)."""
    servers = [
        airflow_env.start(
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(_API_PORT)],
            log_name="api-server",
        ),
        airflow_env.start([AIRFLOW, "triggerer"], log_name="triggerer"),
    ]
    try:
        health = f"http://127.0.0.1:{_API_PORT}/api/v2/monitor/health"
        wait_for(lambda: http_status(health) == 200, 120, "the api-server")
        yield airflow_env
    finally:
        for server in servers:
            _stop_group(server)


@pytest.fixture(scope="module", autouse=True)
def _stop_services_after_each_module() -> Iterator[None]:
    """Modules reuse service names (web, slow-poke...): none may find another's still running."""
    yield
    if _REGISTRY_DB.exists():
        _stop_all(REGISTRY_URL)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _stop_all(registry_url: str) -> None:
    """Leave no service of these tests running, whatever a test did."""
    from plugin_core import ServiceRegistry, find_services, stop_service

    registry = ServiceRegistry(registry_url)
    for service in find_services(registry=registry, refresh=False):
        with contextlib.suppress(Exception):  # best effort: must not mask the test result
            stop_service(service, registry=registry, timeout=2, force=True)
