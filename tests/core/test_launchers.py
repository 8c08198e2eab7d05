"""The two launchers of a supervised program give it the same start.

The native subreaper program (``--launch``) is used wherever a C compiler could build it;
the /bin/sh launcher, behind a ``preexec_fn`` that makes it a child subreaper, is the
fallback on machines without one. Every other test runs the native one, so these run the
same services both ways and compare what the service's process sees (parent, working
directory, descriptors, ignored signals, output in the log) and that a crash and a
double-forked grandchild are handled alike.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from plugin_core import CommandService, ServiceFailedError, subreaper
from tests.conftest import http_get

pytestmark = pytest.mark.integration

PY = sys.executable


@pytest.fixture(params=["native", "shell"])
def launcher(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which launcher starts services in this test; ``shell`` pretends no wrapper can be built."""
    if request.param == "shell":
        monkeypatch.setattr(subreaper, "_WRAPPER", [])
    else:
        prefix, preexec = subreaper.subreaper_launch()
        assert prefix and preexec is None, "the native launcher could not be built on this machine"
    return str(request.param)


def _facts(pid: int) -> dict[str, object]:
    """What a service process was started with, as /proc shows it."""
    status = dict(
        line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    fds = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    environ = dict(
        item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if item
    )
    cwd = os.readlink(f"/proc/{pid}/cwd")
    return {
        "cwd": cwd,
        "PWD is the cwd": environ.get("PWD") == cwd,  # as a shell's cd leaves it
        "OLDPWD is the cwd": environ.get("OLDPWD") == cwd,  # the launcher ran in it too
        "ppid": int(status["PPid"]),
        "ignored": status["SigIgn"].strip(),
        "blocked": status["SigBlk"].strip(),
        "stdin": fds["0"],
        "stdout is stderr": fds["1"] == fds["2"],
        # The server's own sockets (listening, a request still closing) are its business.
        "other fds": sorted(t for fd, t in fds.items() if int(fd) > 2 and not t.startswith("socket:")),
    }


def _probe_script(tmp_path: Path) -> Path:
    script = tmp_path / "facts.py"
    script.write_text(textwrap.dedent("""
        import http.server, sys
        print("hello from the service", flush=True)
        print("and its stderr", file=sys.stderr, flush=True)
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
    """))
    return script


def test_both_launchers_start_the_service_alike(tmp_path: Path) -> None:
    """Same parent (the supervisor), cwd, stdio, descriptors, signal dispositions, log."""
    script = _probe_script(tmp_path)
    seen: dict[str, dict[str, object]] = {}
    for name in ("native", "shell"):
        with pytest.MonkeyPatch.context() as patch:
            if name == "shell":
                patch.setattr(subreaper, "_WRAPPER", [])
            service = CommandService.http(f"facts-{name}", [PY, str(script), "{port}"])
            service.start(timeout=20)
        url = service.get_prediction_url()
        assert url is not None and http_get(url)[0] == 200
        pid = service.status.pid
        assert pid is not None
        facts = _facts(pid)
        assert facts["ppid"] == service.status.supervisor_pid
        assert facts["cwd"] == service.status.runtime_path
        facts["cwd"] = facts["ppid"] = None  # differ by service; compared above
        log = "\n".join(service.get_logs())
        assert "hello from the service" in log and "and its stderr" in log
        seen[name] = facts
        service.stop(timeout=5)
    assert seen["native"]["stdin"] == "/dev/null" and seen["native"]["PWD is the cwd"]
    assert seen["native"]["other fds"] == [], "the launcher leaked a descriptor into the service"
    assert seen["native"] == seen["shell"]


def test_a_crash_is_reported_with_its_exit_code_and_output(launcher: str) -> None:
    service = CommandService.http(
        f"crash-{launcher}", [PY, "-c", "import sys; print('loading weights', flush=True); sys.exit(7)"]
    )
    with pytest.raises(ServiceFailedError) as info:
        service.start(timeout=20)
    assert info.value.exit_code == 7
    assert any("loading weights" in line for line in info.value.log_tail)


def test_a_double_forked_grandchild_stays_below_the_supervisor(launcher: str, tmp_path: Path) -> None:
    """The launcher made the supervisor a subreaper before the service existed."""
    marker = tmp_path / "grandchild.pid"
    script = tmp_path / "forker.py"
    script.write_text(textwrap.dedent(f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                open({str(marker)!r}, 'w').write(str(os.getpid()))
                while True: time.sleep(1)
            os._exit(0)
        while True: time.sleep(1)
    """))
    service = CommandService.http(f"forker-{launcher}", [PY, str(script)])
    service.endpoint = None
    service.start(timeout=20)
    deadline = time.monotonic() + 10
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    grandchild = psutil.Process(int(marker.read_text()))
    assert grandchild.ppid() == service.status.supervisor_pid
    service.stop(timeout=5)
    assert not grandchild.is_running() or grandchild.status() == psutil.STATUS_ZOMBIE
