"""ZenML behaviours a ported program relies on, each checked on real processes and sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from plugin_core import (
    BaseService,
    BaseServiceEndpointHealthMonitor,
    BaseServiceEndpointHealthMonitorConfig,
    CommandService,
    CommandServiceConfig,
    ContainerService,
    ContainerServiceConfig,
    CorruptRecordError,
    HTTPEndpointHealthMonitor,
    LocalDaemonService,
    LocalDaemonServiceConfig,
    LocalDaemonServiceEndpoint,
    LocalDaemonServiceStatus,
    ServiceEndpointHealthMonitorConfig,
    ServiceEndpointStatus,
    ServiceRegistry,
    ServiceState,
    get_service,
    http_endpoint,
)
from tests.core.daemon_services import CounterConfig, HTTPService, LoopService

pytestmark = pytest.mark.integration


class TestNames:
    def test_nameless_service_is_named_after_its_class_and_uuid(self) -> None:
        service = LoopService(config=CounterConfig())
        assert service.config.service_name == f"loop-service-{service.uuid.hex[:8]}"
        assert BaseService.from_json(service.to_json()).config.service_name == service.config.service_name

    def test_one_nameless_config_serves_two_services_with_two_names(self) -> None:
        config = CounterConfig()
        first, second = LoopService(config=config), LoopService(config=config)
        assert first.config.service_name != second.config.service_name
        assert config.name_generated, "the caller's config object is left as it was"

    def test_named_start_stays_idempotent_and_nameless_does_not(self) -> None:
        named = LoopService(config=CounterConfig(name="same"))
        named.start(timeout=20)
        again = LoopService(config=CounterConfig(name="same"))
        again.start(timeout=20)
        assert again.uuid == named.uuid
        one, two = LoopService(config=CounterConfig()), LoopService(config=CounterConfig())
        one.start(timeout=20)
        two.start(timeout=20)
        assert one.uuid != two.uuid and get_service(two.config.service_name).is_running


class TestStartAndUpdate:
    def test_start_with_timeout_zero_returns_before_active(self) -> None:
        service = HTTPService(config=LocalDaemonServiceConfig(name="quick"), endpoint=http_endpoint())
        service.start(timeout=0)
        assert service.admin_state == ServiceState.ACTIVE
        assert service.status.state == ServiceState.PENDING_STARTUP
        assert service.poll_service_status(timeout=30) is True
        assert service.is_running

    def test_update_only_replaces_the_config(self) -> None:
        service = LoopService(config=CounterConfig(name="upd-zen", greeting="a"))
        service.start(timeout=20)
        supervisor = service.status.supervisor_pid
        service.update(CounterConfig(name="upd-zen", greeting="b"))
        assert service.config.greeting == "b"
        assert get_service("upd-zen").config.greeting == "a", "update() saves nothing"
        assert get_service("upd-zen").status.supervisor_pid == supervisor, "nor restarts"

    def test_update_with_a_nameless_config_keeps_the_name(self) -> None:
        service = LoopService(config=CounterConfig(name="keeps"))
        service.update(CounterConfig(greeting="x"))
        assert service.config.service_name == "keeps"

    def test_update_service_with_a_nameless_config_restarts_under_the_same_name(self) -> None:
        from plugin_core import find_services, update_service

        service = LoopService(config=CounterConfig(name="same-name", greeting="a"))
        service.start(timeout=20)
        updated = update_service("same-name", CounterConfig(greeting="b"), timeout=20)
        assert updated.config.service_name == "same-name" and updated.uuid == service.uuid
        assert [s.config.greeting for s in find_services()] == ["b"]
        assert updated.is_running

    def test_from_json_takes_zenml_keyword(self) -> None:
        service = LoopService(config=CounterConfig(name="kw"))
        assert BaseService.from_json(json_str=service.to_json()).uuid == service.uuid


class PongMonitorConfig(ServiceEndpointHealthMonitorConfig):
    path: str = "/"


class StatusOnlyMonitor(BaseServiceEndpointHealthMonitor):
    """Written the ZenML way: only check_endpoint_status, which reports (ServiceState, str)."""

    config: PongMonitorConfig

    def check_endpoint_status(self, endpoint):  # type: ignore[no-untyped-def]
        import urllib.request

        try:
            with urllib.request.urlopen(f"{endpoint.status.uri}{self.config.path}", timeout=2):
                return ServiceState.ACTIVE, ""
        except OSError as exc:
            return ServiceState.ERROR, f"no answer: {exc}"


class TestMonitors:
    def test_alias_is_the_base_config(self) -> None:
        assert ServiceEndpointHealthMonitorConfig is BaseServiceEndpointHealthMonitorConfig

    def test_builtin_check_endpoint_status_returns_a_state(self) -> None:
        endpoint = http_endpoint()
        endpoint.status = type(endpoint.status)(hostname="127.0.0.1", port=1)  # nobody listens
        assert isinstance(endpoint.monitor, HTTPEndpointHealthMonitor)
        state, message = endpoint.monitor.check_endpoint_status(endpoint)
        assert state == ServiceState.ERROR and message

    def test_custom_status_only_monitor_drives_start_and_is_active(self) -> None:
        endpoint = LocalDaemonServiceEndpoint(
            config=http_endpoint().config, monitor=StatusOnlyMonitor(config=PongMonitorConfig())
        )
        service = HTTPService(config=LocalDaemonServiceConfig(name="custom-mon"), endpoint=endpoint)
        service.start(timeout=30)
        assert service.status.state == ServiceState.ACTIVE
        assert service.endpoint is not None and service.endpoint.is_active()
        assert type(get_service("custom-mon").endpoint.monitor) is StatusOnlyMonitor  # type: ignore[union-attr]
        service.stop(timeout=5)
        assert service.endpoint.is_inactive(), "is_inactive() checks now, not the last record"

    def test_a_monitor_with_neither_method_says_so(self) -> None:
        class Empty(BaseServiceEndpointHealthMonitor):
            pass

        with pytest.raises(NotImplementedError, match=r"probe\(\) or check_endpoint_status\(\)"):
            Empty().check_endpoint_status(LocalDaemonServiceEndpoint())


class ReturningService(LocalDaemonService):
    """A run() that returns at once."""

    def run(self) -> None:
        print("done", flush=True)


class TestBlockingAndPid:
    def test_blocking_run_that_returns_ends_inactive_in_the_caller(self, tmp_path: Path) -> None:
        script = tmp_path / "blocking.py"
        script.write_text(textwrap.dedent("""
            import json, os, sys
            from plugin_core import LocalDaemonService, LocalDaemonServiceConfig, get_service

            class Inline(LocalDaemonService):
                def run(self) -> None:
                    seen = get_service(self.config.service_name)
                    print(json.dumps({"run_pid": os.getpid(), "seen_pid": seen.status.pid}))

            if __name__ == "__main__":
                Inline(config=LocalDaemonServiceConfig(name="inline-ok", blocking=True)).start()
                print(json.dumps({"caller_pid": os.getpid()}))
        """))
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             env=env, timeout=60, check=True).stdout  # fmt: skip
        ran, caller = (json.loads(line) for line in out.splitlines())
        assert ran["run_pid"] == caller["caller_pid"] == ran["seen_pid"]
        record = get_service("inline-ok")
        assert record.status.state == ServiceState.INACTIVE and record.status.exit_code == 0
        assert record.status.supervisor_pid is None, "the caller lives on: no longer the service"

    def test_stopping_a_finished_blocking_service_leaves_the_caller_alone(self) -> None:
        service = ReturningService(config=LocalDaemonServiceConfig(name="inline-done", blocking=True))
        service.start()
        service.stop(timeout=1)
        service.deprovision(force=True)
        assert service.status.state == ServiceState.INACTIVE  # and this test process still runs

    def test_command_service_refuses_blocking_at_construction(self) -> None:
        with pytest.raises(ValueError, match="blocking=True is not supported by CommandService"):
            CommandServiceConfig(name="cmd", command=["true"], blocking=True)

    def test_a_command_record_from_before_the_split_still_loads(self) -> None:
        """CommandServiceConfig no longer has ``blocking`` (only run() services do); records
        written when it did carry ``blocking: false``, which loads as before."""
        config = CommandServiceConfig.from_dict({
            "type": "plugin_core.backends.command.CommandServiceConfig",
            "name": "old-cmd", "command": ["true"], "blocking": False,
        })
        assert config.command == ["true"] and "blocking" not in config.to_dict()

    def test_pid_is_the_process_running_the_service(self) -> None:
        service = CommandService.http("pid-cmd", [sys.executable, "-m", "http.server", "{port}"])
        service.start(timeout=30)
        import psutil

        assert service.status.pid is not None
        assert psutil.Process(service.status.pid).cmdline()[1:3] == ["-m", "http.server"]
        assert psutil.Process(service.status.pid).ppid() == service.status.supervisor_pid
        service.stop(timeout=5)
        assert service.status.pid is None

    def test_records_from_before_the_pid_rename_still_load(self) -> None:
        status = LocalDaemonServiceStatus.model_validate({"pid": 123, "pid_token": "9"})
        assert (status.supervisor_pid, status.supervisor_token) == (123, "9")


class TestContainerWithoutDocker:
    def test_missing_docker_extra_is_error_with_the_fix(self, tmp_path: Path) -> None:
        """The docker SDK is installed here, so a subprocess hides it, as an environment without
        the extra would (a real second environment would cost minutes to build)."""
        code = textwrap.dedent("""
            import importlib.abc, sys
            class NoDocker(importlib.abc.MetaPathFinder):
                def find_spec(self, name, path=None, target=None):
                    if name == "docker" or name.startswith("docker."):
                        raise ModuleNotFoundError(f"No module named {name!r}")
            sys.meta_path.insert(0, NoDocker())
            from plugin_core import ContainerService, ContainerServiceConfig
            service = ContainerService(config=ContainerServiceConfig(name="c", image="x"))
            state, message = service.check_status()
            print(state.value, message)
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": os.getcwd()}, timeout=60)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("error ")
        assert "pip install 'outlive[docker]'" in out.stdout

    def test_container_attributes_exist_without_an_engine(self) -> None:
        service = ContainerService(config=ContainerServiceConfig(name="attrs", image="x"))
        assert service.container_id == "outlive-attrs"
        assert isinstance(ServiceEndpointStatus().uri, type(None))


class TestScriptTypes:
    def test_a_deleted_script_makes_a_clear_corrupt_record(self, tmp_path: Path) -> None:
        script = tmp_path / "gone.py"
        script.write_text(textwrap.dedent("""
            import time
            from plugin_core import LocalDaemonService

            class Gone(LocalDaemonService):
                def run(self) -> None:
                    time.sleep(60)

            if __name__ == "__main__":
                Gone().start(timeout=0)
                print(Gone.__module__)
        """))
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        subprocess.run([sys.executable, str(script)], env=env, timeout=60, check=True)
        script.unlink()
        [record] = ServiceRegistry().list_records()
        with pytest.raises(CorruptRecordError, match="no longer exists"):
            get_service(record.name)
