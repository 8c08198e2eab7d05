"""A ZenML-style program end to end: classes in ``__main__`` of a script run as a subprocess.

tests/core/zenml_program.py defines a LocalDaemonService with its own endpoint and a monitor
that only overrides ``check_endpoint_status``, then starts, polls, reads and follows logs and
stops two nameless services. These tests run it as a user would and check what it printed,
the processes, and the registry (which loads the classes again from the script's path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from plugin_core import ServiceState, get_service

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).with_name("zenml_program.py")


def run_program(
    tmp_path: Path, launch: str = "fork"
) -> tuple[dict[str, dict[str, Any]], list[str], int]:
    """Run the program; its JSON lines by step, the marker's lines, and the script's pid.
    ``launch="exec"`` makes its daemons fresh interpreters (not forks of the script)."""
    marker = tmp_path / "main-block-runs.txt"
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OUTLIVE_DAEMON_LAUNCH": launch}
    process = subprocess.Popen(
        [sys.executable, str(PROGRAM), str(marker)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    steps = {line["step"]: line for line in map(json.loads, out.splitlines())}
    return steps, marker.read_text().splitlines(), process.pid


@pytest.mark.parametrize("launch", ["fork", "exec"])
def test_zenml_program_starts_polls_and_reads_logs(tmp_path: Path, launch: str) -> None:
    steps, main_runs, script_pid = run_program(tmp_path, launch)
    started, polled, answered, logs = (steps[s] for s in ("started", "polled", "answered", "logs"))

    # classes from __main__ are stored by the script's path and the daemon found them there
    assert started["type"] == f"{PROGRAM}:PingService"
    assert main_runs == [f"main block ran in pid {script_pid}"], "the daemon must skip the main block"
    # a forked daemon has the script as __main__ already; an exec'd one loads it as __mp_main__
    module = "__main__" if launch == "fork" else "__mp_main__"
    assert any(f"run() in module {module}," in line for line in logs["tail"])
    assert f"__main__ is {PROGRAM}" in logs["tail"], "the script is __main__ in the daemon, as in spawn"

    # a nameless config gets a stable name from the class and uuid; two objects, two services
    assert started["name"] == f"ping-service-{started['uuid'][:8]}"
    assert steps["second"]["name"] != started["name"]

    # start(timeout=0) returned at once; poll_service_status waited for ACTIVE
    assert started["state"] == "pending_startup"
    assert polled["reached"] is True and polled["state"] == "active"
    assert isinstance(polled["pid"], int) and polled["pid"] != script_pid

    # the ZenML-style monitor (check_endpoint_status only) judged the endpoint
    assert answered["body"] == "pong"
    assert answered["is_running"] is True and answered["endpoint_active"] is True

    # get_logs: tail, and follow stopped by send(True)
    assert logs["followed"][-1] == "request /ping"
    assert "request /ping" in logs["tail"]

    # the processes the program started are gone, and the registry loads the script's classes
    assert not psutil.pid_exists(polled["pid"]) or psutil.Process(polled["pid"]).status() == psutil.STATUS_ZOMBIE
    record = get_service(started["name"])
    assert type(record).__name__ == "PingService" and record.type == started["type"]
    assert type(record).__module__ != "__main__", "loaded from the file, not from this process"
    assert type(record.endpoint.monitor).__name__ == "PingMonitor"
    assert main_runs == (tmp_path / "main-block-runs.txt").read_text().splitlines()


def test_zenml_program_stops_end_inactive(tmp_path: Path) -> None:
    steps, _, _ = run_program(tmp_path)
    assert steps["stopped"]["state"] == "inactive" and steps["stopped"]["is_stopped"] is True
    assert steps["forced"]["state"] == "inactive" and steps["forced"]["is_stopped"] is True
    for step in ("stopped", "forced"):
        assert get_service(steps[step]["name"]).status.state == ServiceState.INACTIVE

