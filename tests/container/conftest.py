"""A real Docker engine and locally built images for the container tests.

No engine runs on test machines until one is started, and no image can be pulled, so
the session starts ``dockerd`` (``scripts/docker_engine.sh``, which installs docker.io
with apt when root) and builds the images (``scripts/docker_images.py``).  Without
Docker the tests skip with the reason; with ``CI=true`` they fail instead, so CI can
never pass by skipping.  An engine the session started is stopped at its end unless
``OUTLIVE_KEEP_DOCKERD=1`` (handy when iterating locally).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
BASE_IMAGE = "outlive-base:bookworm"
LABEL_UUID = "outlive.service-uuid"


def unavailable(reason: str) -> None:
    """Skip, or fail under CI, where these tests must run."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"Docker tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"Docker tests skipped: {reason}")


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    """An engine on the default socket: the running one, or one we start (and stop after)."""
    try:
        import docker  # noqa: F401
    except ImportError:
        unavailable("the docker SDK is not installed (pip install 'outlive[docker]')")
    if os.environ.get("DOCKER_HOST"):
        unavailable("DOCKER_HOST is set; these tests manage their own engines, unset it")
    engine = str(SCRIPTS / "docker_engine.sh")
    was_running = _run(["bash", engine, "status"], timeout=30).returncode == 0
    if not was_running and os.geteuid() != 0 and not shutil.which("dockerd"):
        unavailable("no Docker engine answers and dockerd cannot be installed without root")
    started = time.monotonic()
    proc = _run(["bash", engine, "up"], timeout=600)
    if proc.returncode != 0:
        unavailable(f"the Docker engine could not be started:\n{proc.stderr[-2000:]}")
    print(f"\n{proc.stdout.strip()} (ready in {time.monotonic() - started:.1f}s)")
    yield
    if not was_running and os.environ.get("OUTLIVE_KEEP_DOCKERD") != "1":
        _run(["bash", engine, "down"], timeout=120)


@pytest.fixture(scope="session")
def docker_client(docker_engine: None) -> Iterator[Any]:
    """A docker SDK client for checking what the engine really holds."""
    import docker

    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session")
def runtime_image(docker_engine: None) -> str:
    """``outlive-runtime:<hash>``: the base image plus this checkout and its dependencies."""
    started = time.monotonic()
    proc = _run([sys.executable, str(SCRIPTS / "docker_images.py")], timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"building the test images failed:\n{proc.stderr[-4000:]}", pytrace=False)
    tag = proc.stdout.strip().splitlines()[-1]
    print(f"\nimages ready in {time.monotonic() - started:.1f}s: {tag}")
    return tag


@pytest.fixture(scope="session")
def base_image(runtime_image: str) -> str:
    """A plain Debian image with python3, standing in for 'any image' (redis, nginx...)."""
    return BASE_IMAGE


@pytest.fixture()
def registry(outlive_home: Path) -> Any:
    """The registry in the test's private OUTLIVE_HOME (set by tests/conftest.py, whose
    teardown deprovisions every service recorded there)."""
    from plugin_core import ServiceRegistry

    return ServiceRegistry()


@pytest.fixture()
def unique_name() -> str:
    """Container names are global to the engine; a random suffix keeps reruns apart."""
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _remove_test_containers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test leaves behind (even after a failure) is removed by label."""
    yield
    if "docker_client" not in request.fixturenames:
        return
    client = request.getfixturevalue("docker_client")
    import docker.errors

    for container in client.containers.list(all=True, filters={"label": LABEL_UUID}):
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass  # already gone (auto-removed, or its service's stop got there first)
        except docker.errors.APIError as error:
            if error.status_code != 409:  # 409: a removal is already in progress
                raise


def _free_port(host: str) -> int:
    """A port free on ``host`` now: a fixed one would clash with a second test run."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def remote_engine(base_image: str) -> Iterator[dict[str, str]]:
    """A second dockerd on TCP with TLS (127.0.0.2, a free port), sharing nothing with the first.

    Yields the client settings (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). 127.0.0.2
    rather than 127.0.0.1 so a test can tell the engine's address from localhost. The base
    image is copied into it with save/load, since it cannot pull either.
    """
    if os.geteuid() != 0:
        unavailable("a second dockerd needs root")
    state = tempfile.mkdtemp(prefix="outlive-remote-engine-")
    script = str(SCRIPTS / "docker_remote_engine.sh")
    address = os.environ.get("OUTLIVE_REMOTE_ENGINE_ADDR") or f"127.0.0.2:{_free_port('127.0.0.2')}"
    env = {**os.environ, "OUTLIVE_REMOTE_TLS": "1"}
    proc = subprocess.run(["bash", script, "up", state, address], capture_output=True, text=True,
                          timeout=120, check=False, env=env)
    if proc.returncode != 0:
        unavailable(f"the second Docker engine could not be started:\n{proc.stderr[-2000:]}")
    settings = dict(line.split("=", 1) for line in proc.stdout.split() if "=" in line)
    try:
        save = subprocess.Popen(["docker", "save", BASE_IMAGE], stdout=subprocess.PIPE)
        load = subprocess.run(["docker", "load", "-q"], stdin=save.stdout, capture_output=True,
                              text=True, timeout=300, check=False, env={**os.environ, **settings})
        if save.wait(timeout=60) != 0 or load.returncode != 0:
            pytest.fail(f"copying {BASE_IMAGE} to {settings['DOCKER_HOST']} failed: {load.stderr}")
        yield settings
    finally:
        _run(["bash", script, "down", state], timeout=120)
