"""The examples of ZenML's services document, verbatim apart from the import line.

Each runs as the document intends: a script (so its classes live in ``__main__``), with a
config that has no name and a ``start()`` at the top level, not under a main guard. The
daemon loads the script again to find the class; that must not start a second service.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from plugin_core import ServiceState, find_services, stop_service

pytestmark = pytest.mark.integration

# zenml-services-api.txt, LocalDaemonService: "For example, ..." (only the import changed).
LOCAL_DAEMON_EXAMPLE = '''
from plugin_core import ServiceType, LocalDaemonService, LocalDaemonServiceConfig
import time

class SleepingDaemonConfig(LocalDaemonServiceConfig):

    wake_up_after: int

class SleepingDaemon(LocalDaemonService):

    SERVICE_TYPE = ServiceType(
        name="sleeper",
        description="Sleeping daemon",
        type="daemon",
        flavor="sleeping",
    )
    config: SleepingDaemonConfig

    def run(self) -> None:
        time.sleep(self.config.wake_up_after)

daemon = SleepingDaemon(config=SleepingDaemonConfig(wake_up_after=10))
daemon.start()
'''


def run_script(path: Path, **extra_env: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd(), **extra_env}
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_local_daemon_example_runs_as_written(tmp_path: Path) -> None:
    script = tmp_path / "sleeping_daemon.py"
    script.write_text(LOCAL_DAEMON_EXAMPLE)
    run_script(script)

    services = find_services()
    assert len(services) == 1, "re-loading the script in the daemon must not start another one"
    daemon = services[0]
    assert type(daemon).__name__ == "SleepingDaemon" and daemon.config.wake_up_after == 10
    assert daemon.type == f"{script}:SleepingDaemon"
    assert re.fullmatch(rf"sleeping-daemon-{daemon.uuid.hex[:8]}", daemon.config.service_name)
    assert daemon.status.state == ServiceState.ACTIVE
    assert daemon.status.pid is not None
    # Forked from the single-threaded script, which it did not need to load again.
    assert psutil.Process(daemon.status.pid).cmdline() == [sys.executable, str(script)]

    # Nameless, so not idempotent by name: a second daemon, as in ZenML; exec'd this time, so
    # it loads the script again to find the class, and that starts no third one.
    run_script(script, OUTLIVE_DAEMON_LAUNCH="exec")
    assert len(find_services()) == 2
    second = next(s for s in find_services() if s.uuid != daemon.uuid)
    assert second.status.pid is not None
    assert psutil.Process(second.status.pid).cmdline()[1:3] == ["-m", "plugin_core.backends._daemon"]
    for service in find_services():
        assert stop_service(service).admin_state == ServiceState.INACTIVE
