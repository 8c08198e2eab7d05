"""One "wait until ACTIVE" for every caller, with one rule for an unknown name, and waiters
that re-read the registry. Real services and a real registry.

Pins issue 17's "two waits that disagree": Prefect's task failed at once on an unknown name
while Airflow's sensor waited out its whole timeout. Now the CLI, ``wait_for_service``
(Prefect's task), ``check_service_once`` (the sensor's poke) and ``await_service_active``
(the trigger) all look through :class:`plugin_core.readiness.ActiveWatch`.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from plugin_core import (
    CommandService,
    ServiceNotFoundError,
    ServiceState,
    StartTimeoutError,
    await_service_active,
    check_service_once,
    get_service,
    start_service,
    update_service,
    wait_for_service,
)
from plugin_core.cli import app

pytestmark = pytest.mark.integration

PY = sys.executable


def web(name: str = "web", *extra: str) -> CommandService:
    return CommandService.http(name, [PY, "-m", "http.server", "{port}", "--bind", "{host}", *extra])


class TestUnknownName:
    def test_every_wait_fails_fast_on_an_unknown_name(self) -> None:
        began = time.monotonic()
        with pytest.raises(ServiceNotFoundError, match="nobody"):
            wait_for_service("nobody", timeout=60)
        with pytest.raises(ServiceNotFoundError, match="nobody"):
            check_service_once("nobody")
        with pytest.raises(ServiceNotFoundError, match="nobody"):
            asyncio.run(await_service_active("nobody", timeout=60))
        result = CliRunner().invoke(app, ["wait", "nobody", "--timeout", "60"])
        assert result.exit_code == 3, result.output
        assert time.monotonic() - began < 30  # none of them waited out its 60 s

    def test_wait_for_registration_waits_for_the_service_to_appear(self) -> None:
        later = threading.Timer(0.5, lambda: start_service(web("late"), wait=False))
        later.start()
        try:
            service = wait_for_service("late", timeout=60, wait_for_registration=True)
        finally:
            later.join()
        assert service.status.state == ServiceState.ACTIVE

    def test_wait_for_registration_times_out_cleanly(self) -> None:
        with pytest.raises(StartTimeoutError, match="not registered"):
            wait_for_service("never", timeout=0.3, wait_for_registration=True)
        snapshot = check_service_once("never", wait_for_registration=True)
        assert snapshot.state == "inactive" and "not registered" in snapshot.message
        final = asyncio.run(await_service_active("never", timeout=0.3, wait_for_registration=True))
        assert not final.is_active and "not registered" in final.message


class TestWaitersReadTheRegistry:
    def test_a_stale_copy_is_replaced_by_the_registry_record(self) -> None:
        """A waiter holding an old copy (old supervisor pid, old port) of a service that was
        restarted elsewhere sees the restarted service, not a dead process."""
        start_service(web("moving"), timeout=30)
        stale = get_service("moving")
        old_pid = stale.status.supervisor_pid  # type: ignore[attr-defined]
        update_service("moving", web("moving", "--directory", "/"), timeout=30)
        waited = wait_for_service(stale, timeout=30)
        assert waited.status.state == ServiceState.ACTIVE
        assert waited.status.supervisor_pid != old_pid  # type: ignore[attr-defined]
        assert "--directory" in waited.config.command  # type: ignore[attr-defined]

    def test_a_restart_during_the_wait_is_followed(self) -> None:
        """A service restarted by another caller while we wait by name: ACTIVE, never ERROR."""

        def slow(*extra: str) -> CommandService:
            serve = f"sleep 1.5; exec {PY} -m http.server $0 --bind 127.0.0.1 {' '.join(extra)}"
            return CommandService.http("restarted", ["sh", "-c", serve, "{port}"])

        start_service(slow(), wait=False)
        restart = threading.Timer(
            0.5, lambda: update_service("restarted", slow("--directory", "/"), wait=False)
        )
        restart.start()
        try:
            service = wait_for_service("restarted", timeout=60)
        finally:
            restart.join()
        assert service.status.state == ServiceState.ACTIVE
        assert wait_for_service("restarted", timeout=60).status.state == ServiceState.ACTIVE

    def test_async_and_sync_waits_agree_on_an_active_service(self) -> None:
        start_service(web("both"), timeout=30)
        assert wait_for_service("both", timeout=10).status.state == ServiceState.ACTIVE
        assert asyncio.run(await_service_active("both", timeout=10)).is_active
        assert check_service_once("both").is_active
