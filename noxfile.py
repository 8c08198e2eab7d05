"""The test matrix: one session per environment a user really has.

Users install one orchestrator, not both, so each session is a fresh venv with outlive
installed from its wheel the way a user installs it (``pip install 'outlive[airflow]'``, not
an editable checkout that would hide packaging mistakes), then the tests of that
environment::

    nox -l                  # the sessions
    nox -s airflow-3.3      # one of them
    nox                     # all of them (scripts/test.sh runs this)

Each session checks that pip resolved what it meant to test (the orchestrator series, the
newest release where that is the point) and fails otherwise; it writes the versions it got
and its wall time to ``.nox/_reports/<session>.json``. Test directories map to sessions
(``tests/<dir>`` -> the session of that dir, the ``postgres`` marker -> ``postgres``, the
``airflow_servers`` marker -> the one Airflow session that starts a scheduler and triggerer,
the ``airflow`` marker in tests/ray -> ``ray-airflow``), so new tests land in the right
session by where they are.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.error_on_external_run = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).resolve().parent
NOX_DIR = ROOT / ".nox"
REPORTS = NOX_DIR / "_reports"
WHEELS = NOX_DIR / "_wheel" / str(os.getpid())  # per nox run: runs side by side never collide
# Append mode: the repository root goes at the end of sys.path, so ``import plugin_core`` in
# the tests finds the installed wheel, not the checkout (``tests`` still imports from it).
PYTEST = ("pytest", "-q", "-ra", "--import-mode=append", "-p", "no:cacheprovider")
ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
# Every test directory and the session(s) that run it; a directory missing here fails `lint`.
TEST_DIRS = {
    "core": "core, postgres (marker postgres)",
    "examples": "core, postgres (marker postgres)",
    "container": "containers (with the postgres driver)",
    "workflow": "workflow",
    "prefect": "prefect",
    "airflow": "airflow-*",
    "ray": "ray, ray-airflow (marker airflow)",
}
# The newest Airflow series pip offers; `airflow-<it>` also checks that a plain
# `pip install 'outlive[airflow]'` lands in it (add a session when a newer series appears).
NEWEST_AIRFLOW = "3.3"


@dataclass(frozen=True)
class Matrix:
    """One user environment: what is installed, what must have been resolved, what runs."""

    extras: str
    tests: tuple[str, ...]
    doc: str
    markers: str | None = None
    preinstalled: tuple[str, ...] = ()  # installed first: the user already has these
    alongside: tuple[str, ...] = ()  # requested in the same pip command as outlive
    newest: dict[str, str] = field(default_factory=dict)  # dist -> requirement: newest match
    absent: tuple[str, ...] = ()  # distributions that must not be installed
    lane: int = 1  # scripts/test.sh runs lanes 1 and 2 side by side (`nox -t lane-1`)


AIRFLOW_TESTS = ("tests/airflow",)


def _airflow(series: str, doc: str, *, installed_first: bool, servers: bool = False,
             lane: int = 1) -> Matrix:
    """One Airflow series: already installed when outlive comes (it must stay as it was), or
    requested alongside; only the ``servers`` session runs the scheduler/triggerer tests."""
    pin = f"apache-airflow=={series}.*"
    return Matrix(
        "airflow,test",
        AIRFLOW_TESTS,
        doc,
        markers=None if servers else "not airflow_servers",
        preinstalled=(pin,) if installed_first else (),
        alongside=() if installed_first else (pin,),
        newest={"apache-airflow": pin},
        absent=("prefect",),
        lane=lane,
    )


MATRIX: dict[str, Matrix] = {
    "core": Matrix(
        "test",
        ("tests/core", "tests/examples"),
        "The core alone: no orchestrator, no docker SDK, no web stack, no PostgreSQL driver.",
        markers="not postgres",
        absent=("apache-airflow", "prefect", "docker", "fastapi", "redis", "psycopg"),
    ),
    "postgres": Matrix(
        "postgres,test",
        ("tests/core", "tests/examples"),
        "The registry on a real PostgreSQL server (Debian's postgresql, started by the tests).",
        markers="postgres",
        newest={"psycopg": "psycopg"},
        absent=("apache-airflow", "prefect"),
    ),
    "containers": Matrix(
        # postgres too: a container stopped from another (simulated) host shares a registry.
        "docker,postgres,test",
        ("tests/container",),
        "Container services on real Docker engines (started, images built once, by the tests).",
        newest={"docker": "docker"},
        absent=("apache-airflow", "prefect"),
        lane=2,
    ),
    "workflow": Matrix(
        "workflow,redis,test,test-workflow",
        ("tests/workflow",),
        "WorkflowService over HTTP (FastAPI) with SQLite and Redis queues.",
        newest={"fastapi": "fastapi", "redis": "redis"},
        absent=("apache-airflow", "prefect"),
        lane=2,
    ),
    "prefect": Matrix(
        "prefect,test",
        ("tests/prefect",),
        "The newest Prefect 3: flows run with `python flow.py`, a deployment served by a worker.",
        newest={"prefect": "prefect>=3,<4"},
        absent=("apache-airflow",),
    ),
    "ray": Matrix(
        # The pipeline's side is outlive[ray] (HTTP only) with Prefect for the flow test and
        # the PostgreSQL driver for the shared-registry claim; ray[serve] is requested
        # alongside only because the tests start a real cluster.
        "ray,postgres,prefect,test",
        ("tests/ray",),
        "Ray Serve apps on a real two-node Ray cluster (head and worker on loopback).",
        markers="not airflow",
        alongside=("ray[serve]",),
        newest={"ray": "ray"},
        absent=("apache-airflow",),
        lane=2,
    ),
    "airflow-3.1": _airflow(
        "3.1", "Airflow 3.1 already installed, then outlive[airflow]: Airflow stays, DAGs run.",
        installed_first=True, lane=2,
    ),
    "airflow-3.2": _airflow(
        "3.2", "Airflow 3.2 requested next to outlive[airflow] (whose pins make 3.2.x run).",
        installed_first=False,
    ),
    "airflow-3.3": _airflow(
        "3.3", "Airflow 3.3 already installed, then outlive[airflow]; plus the scheduler/triggerer tests.",
        installed_first=True, servers=True,
    ),
    "ray-airflow": Matrix(
        # The other orchestrator's side of the cluster: outlive[ray,airflow] on the newest
        # Airflow, and only the tests that run a DAG (the `ray` session runs the rest). ~4 min
        # (2.5 of them pip), in lane 1 beside the heavier lane 2 (containers, ray); last in its
        # lane, so its cluster rarely runs while the `ray` session's does.
        "ray,airflow,test",
        ("tests/ray",),
        "An Airflow DAG deploys a Ray Serve app to the two-node cluster; it outlives the run.",
        markers="airflow",
        alongside=("ray[serve]", f"apache-airflow=={NEWEST_AIRFLOW}.*"),
        newest={"ray": "ray", "apache-airflow": f"apache-airflow=={NEWEST_AIRFLOW}.*"},
        absent=("prefect",),
    ),
}

_wheel: Path | None = None


def _build_wheel(session: nox.Session) -> Path:
    """The project's wheel, built once per nox run (what `pip install outlive` would fetch).

    Built from a copy of the checkout: setuptools writes build/ and *.egg-info next to the
    sources, so two nox runs side by side (scripts/test.sh's lanes) would trip over each
    other, and a stale build/lib would put deleted modules in the wheel.
    """
    global _wheel
    if _wheel is None:
        shutil.rmtree(WHEELS, ignore_errors=True)
        source = Path(session.create_tmp()) / "source"
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
            ".git", ".nox", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"))
        _pip(session, "wheel", "-q", "--no-deps", "-w", str(WHEELS), str(source))
        shutil.rmtree(source, ignore_errors=True)
        (wheel,) = WHEELS.glob("outlive-*.whl")
        _wheel = wheel
    return _wheel


def _pip(session: nox.Session, *args: str) -> None:
    """pip, its output shown only when it fails (this machine's index notes are noise)."""
    session.run("python", "-m", "pip", "--disable-pip-version-check", *args, silent=True)


def _installed(session: nox.Session) -> dict[str, str]:
    """Every distribution in the session's venv, name (normalised) -> version."""
    out = Path(session.create_tmp()) / "installed.json"
    session.run(
        "python", "-c",
        "import json, re, sys; from importlib.metadata import distributions as d; "
        "json.dump({re.sub(r'[-_.]+', '-', x.metadata['Name']).lower(): x.version for x in d()},"
        " open(sys.argv[1], 'w'))",
        str(out), silent=True,
    )
    result: dict[str, str] = json.loads(out.read_text())
    return result


def _newest(session: nox.Session, requirement: str) -> str:
    """The version pip picks for ``requirement`` alone, from the index (no install)."""
    report = Path(session.create_tmp()) / "newest.json"
    _pip(session, "install", "-q", "--dry-run", "--ignore-installed", "--no-deps",
         "--report", str(report), requirement)
    (item,) = json.loads(report.read_text())["install"]
    return str(item["metadata"]["version"])


def _check_versions(session: nox.Session, env: Matrix, before: dict[str, str]) -> dict[str, str]:
    """Fail unless pip resolved what this session is meant to test; return what it did."""
    got = _installed(session)
    problems = []
    for dist, requirement in env.newest.items():
        wanted = _newest(session, requirement)
        if got.get(dist) != wanted:
            problems.append(f"{dist}: wanted {wanted} (newest for {requirement!r}), got {got.get(dist)}")
    for dist, version in before.items():
        if got.get(dist) != version:
            problems.append(f"{dist}: the user had {version}; installing outlive made it {got.get(dist)}")
    problems += [f"{dist} {got[dist]} is installed but must not be" for dist in env.absent if dist in got]
    if problems:
        session.error("pip did not resolve what this session tests:\n  " + "\n  ".join(problems))
    return got


def _check_plain_airflow_install(session: nox.Session, wheel: Path) -> str:
    """What a plain `pip install 'outlive[airflow]'` gets in a fresh venv: the newest series."""
    report = Path(session.create_tmp()) / "plain.json"
    _pip(session, "install", "-q", "--dry-run", "--ignore-installed", "--report", str(report),
         f"{wheel}[airflow]")
    picked = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    version = picked["apache-airflow"]
    if not version.startswith(f"{NEWEST_AIRFLOW}."):
        session.error(
            f"pip install 'outlive[airflow]' now picks Airflow {version}: add an "
            f"airflow-{'.'.join(version.split('.')[:2])} session and update NEWEST_AIRFLOW"
        )
    return version


def _report(name: str, versions: dict[str, str], seconds: float, extra: dict[str, str]) -> None:
    keys = ("apache-airflow", "apache-airflow-task-sdk", "prefect", "fastapi", "svcs", "starlette",
            "pydantic", "sqlalchemy", "docker", "redis", "psycopg", "uvicorn", "ray", "httpx", "pytest")
    REPORTS.mkdir(parents=True, exist_ok=True)
    data = {"session": name, "seconds": round(seconds, 1), **extra,
            "versions": {k: versions[k] for k in keys if k in versions}}
    (REPORTS / f"{name}.json").write_text(json.dumps(data, indent=1))


def _run(session: nox.Session, name: str, env: Matrix) -> None:
    started = time.monotonic()
    wheel = _build_wheel(session)
    notes: dict[str, str] = {}
    if name == f"airflow-{NEWEST_AIRFLOW}":
        notes["plain outlive[airflow] picks"] = _check_plain_airflow_install(session, wheel)
    before: dict[str, str] = {}
    if env.preinstalled:
        _pip(session, "install", "-q", *env.preinstalled)
        have = _installed(session)
        before = {dist: have[dist] for dist in env.newest if dist in have}
    _pip(session, "install", "-q", *env.alongside, f"{wheel}[{env.extras}]")
    versions = _check_versions(session, env, before)
    install_seconds = time.monotonic() - started
    session.log("resolved: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())
                                         if k in ("apache-airflow", "prefect", "fastapi", "svcs",
                                                  "docker", "redis", "psycopg", "pydantic")))
    # The tests must exercise the wheel: plugin_core must come from the venv, not the checkout.
    with session.chdir(session.create_tmp()):
        session.run("python", "-c", "import plugin_core, sys; p = plugin_core.__file__; "
                    "sys.exit(0 if '/site-packages/' in p else f'plugin_core from {p}')")
    REPORTS.mkdir(parents=True, exist_ok=True)
    args = [*PYTEST, f"--junitxml={REPORTS / name}.xml", *env.tests]
    if env.markers:
        args += ["-m", env.markers]
    # A short temporary directory, not nox's .nox/<session>/tmp: unix sockets (a second
    # dockerd's containerd.sock.ttrpc, PostgreSQL's) live under it, within 107 bytes.
    tmp = tempfile.mkdtemp(prefix="olv-nox-")
    os.chmod(tmp, 0o755)  # PostgreSQL's server runs as user postgres: it must reach its dir
    try:
        session.run(*args, *session.posargs, env={**ENV, "TMPDIR": tmp})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        notes["install seconds"] = f"{install_seconds:.1f}"
        _report(name, versions, time.monotonic() - started, notes)


def _define(name: str, env: Matrix) -> None:
    def session_func(session: nox.Session) -> None:
        _run(session, name, env)

    session_func.__doc__ = env.doc
    session_func.__name__ = name.replace("-", "_").replace(".", "_")
    nox.session(name=name, reuse_venv=False, tags=[f"lane-{env.lane}"])(session_func)


@nox.session(reuse_venv=False, tags=["lane-1"])
def lint(session: nox.Session) -> None:
    """ruff, mypy --strict plugin_core, and every test directory mapped to a session."""
    unmapped = sorted(
        d.name for d in (ROOT / "tests").iterdir()
        if d.is_dir() and any(d.glob("test_*.py")) and d.name not in TEST_DIRS
    )
    if unmapped:
        session.error(f"tests/{unmapped} run in no session: map them in noxfile.py TEST_DIRS")
    wheel = _build_wheel(session)
    _pip(session, "install", "-q", f"{wheel}[docker,postgres,workflow,redis,test-workflow,lint]")
    session.run("ruff", "check", "plugin_core", "prefect_ext", "airflow_ext", "noxfile.py")
    session.run("mypy", "plugin_core")


for _name, _env in MATRIX.items():
    _define(_name, _env)
