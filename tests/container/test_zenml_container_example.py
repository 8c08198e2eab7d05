"""The ContainerService example of ZenML's services document, verbatim apart from the import.

Run as a script, its class lives in ``__main__``: the container gets the script mounted at the
same path and loads it by that path (as ``__mp_main__``, skipping nothing but the main guard,
and skipping the top-level ``service.start()`` while re-loading).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from plugin_core import ServiceState, find_services, stop_service

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# zenml-services-api.txt, ContainerService: "For example, ..." (only the import changed).
CONTAINER_EXAMPLE = '''
from plugin_core import ServiceType, ContainerService, ContainerServiceConfig
import time

class SleepingServiceConfig(ContainerServiceConfig):

    wake_up_after: int

class SleepingService(ContainerService):

    SERVICE_TYPE = ServiceType(
        name="sleeper",
        description="Sleeping container",
        type="container",
        flavor="sleeping",
    )
    config: SleepingServiceConfig

    def run(self) -> None:
        time.sleep(self.config.wake_up_after)

service = SleepingService(config=SleepingServiceConfig(wake_up_after=10))
service.start()
'''


def test_container_example_runs_as_written(
    tmp_path: Path, runtime_image: str, docker_client: Any
) -> None:
    script = tmp_path / "sleeping_service.py"
    script.write_text(CONTAINER_EXAMPLE)
    script.chmod(0o644)
    tmp_path.chmod(0o755)  # the container's user reads the mounted script
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OUTLIVE_CONTAINER_IMAGE": runtime_image}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr

    [service] = find_services()
    assert type(service).__name__ == "SleepingService" and service.type == f"{script}:SleepingService"
    assert service.status.state == ServiceState.ACTIVE
    container = docker_client.containers.get(service.container_id)
    assert container.status == "running"
    assert any(m["Source"] == str(script) and m["Destination"] == str(script) for m in container.attrs["Mounts"])
    assert service.container is not None and service.container.id == container.id
    stop_service(service)
