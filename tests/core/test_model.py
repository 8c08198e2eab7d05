"""The typed model: round trips, discriminated loading, and clear errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from plugin_core import (
    BaseService,
    CommandService,
    CommandServiceConfig,
    ConfigError,
    HTTPEndpointHealthMonitor,
    HTTPEndpointHealthMonitorConfig,
    LocalDaemonServiceEndpoint,
    ProbePolicy,
    ServiceConfig,
    ServiceEndpointConfig,
    ServiceState,
    ServiceStatus,
    TCPEndpointHealthMonitor,
    UnknownServiceTypeError,
    http_endpoint,
    load_service,
)
from plugin_core.model.typed import BaseTypedModel
from tests.core.daemon_services import CounterConfig, LoopService


class TestRoundTrip:
    def test_command_service_round_trips_through_json(self) -> None:
        """A service with endpoint and monitor loads back into the same classes with equal data."""
        service = CommandService.http("web", ["python", "-m", "http.server", "{port}"], port=8123)
        loaded = BaseService.from_json(service.to_json())
        assert type(loaded) is CommandService
        assert type(loaded.endpoint) is LocalDaemonServiceEndpoint
        assert loaded.endpoint is not None
        assert type(loaded.endpoint.monitor) is HTTPEndpointHealthMonitor
        assert loaded.to_dict() == service.to_dict()

    def test_subclass_config_fields_survive(self) -> None:
        """A user's config subclass keeps its own fields through serialisation."""
        service = LoopService(config=CounterConfig(name="loop", greeting="bonjour"))
        loaded = BaseService.from_dict(json.loads(service.to_json()))
        assert isinstance(loaded, LoopService)
        assert isinstance(loaded.config, CounterConfig)
        assert loaded.config.greeting == "bonjour"

    def test_monitor_union_dispatches_on_type(self) -> None:
        """A TCP monitor stored where a base monitor is declared loads as a TCP monitor."""
        endpoint = LocalDaemonServiceEndpoint(monitor=TCPEndpointHealthMonitor())
        loaded = LocalDaemonServiceEndpoint.from_json(endpoint.to_json())
        assert type(loaded.monitor) is TCPEndpointHealthMonitor

    def test_type_field_names_the_class(self) -> None:
        """The discriminator is the class's registered name, not where its code lives."""
        service = CommandService.http("a", "true")
        assert (service.type, service.config.type) == ("outlive.command", "outlive.command-config")
        assert service.endpoint is not None and service.endpoint.monitor is not None
        assert service.endpoint.monitor.type == "outlive.http-monitor"


class TestUnknownTypes:
    def test_unknown_type_names_the_type_and_the_fix(self) -> None:
        """An unimportable type says which one and how to register it."""
        data = CommandService.http("a", "true").to_dict()
        data["type"] = "nowhere_pkg.models.GhostService"
        with pytest.raises(ConfigError) as info:
            BaseService.from_dict(data)
        assert "nowhere_pkg.models.GhostService" in str(info.value)
        assert "outlive.services" in str(info.value)

    def test_main_module_class_missing_from_its_script_is_refused_at_start(self) -> None:
        """A class that says __main__ but is not at the top level of the running script (here
        pytest's) could not be loaded by the daemon: refused in the caller, not in a dead daemon."""
        script_class = type(
            "ScriptService", (LoopService,), {"__module__": "__main__", "__qualname__": "ScriptService"}
        )
        service = script_class(config=CounterConfig(name="from-script"))
        with pytest.raises(UnknownServiceTypeError) as info:
            service.start(timeout=5)
        assert "__main__" in str(info.value)

    def test_wrong_class_for_declared_base_is_refused(self) -> None:
        """A status stored where a config is expected is a clear error."""
        with pytest.raises(ConfigError, match="is not a ServiceConfig"):
            ServiceConfig.from_dict({"type": ServiceStatus().type, "name": "x"})


class TestValidation:
    def test_negative_port_names_the_field(self) -> None:
        with pytest.raises(ConfigError) as info:
            load_service({"type": "command", "config": {"name": "a", "command": ["x"]}, "endpoint": {"port": -1}})
        assert "port" in str(info.value)

    def test_the_error_names_the_class_the_document_asked_for(self) -> None:
        """A command definition with a bad field reads "Invalid CommandService", not the base
        class the loader was called on; a type that names nothing keeps the base's name."""
        with pytest.raises(ConfigError) as info:
            load_service({"type": "command", "config": {"name": "a", "command": []}})
        assert str(info.value).splitlines()[0] == "Invalid CommandService:"
        assert "config.command" in str(info.value)
        with pytest.raises(ConfigError) as info:
            BaseService.from_dict({"type": "nowhere_pkg.Ghost", "config": {"name": "a"}})
        assert str(info.value).splitlines()[0] == "Invalid BaseService:"

    def test_unknown_protocol_is_named(self) -> None:
        with pytest.raises(ValueError, match="unknown protocol 'gopher'"):
            ServiceEndpointConfig(protocol="gopher")  # type: ignore[arg-type]

    def test_empty_argv_is_refused(self) -> None:
        with pytest.raises(ValueError, match="command"):
            CommandServiceConfig(name="a", command=[])

    def test_non_string_argv_is_refused(self) -> None:
        with pytest.raises(ValueError, match="list of strings"):
            CommandServiceConfig(name="a", command=["python", 3])  # type: ignore[list-item]

    def test_relative_cwd_is_refused(self) -> None:
        with pytest.raises(ValueError, match="absolute"):
            CommandServiceConfig(name="a", command=["true"], cwd="relative/dir")

    def test_nameless_config_gets_a_usable_generated_name(self) -> None:
        """As in ZenML, no name is needed (the service then names it; see test_zenml_behaviour)."""
        config = ServiceConfig()
        assert config.name_generated and config.service_name.startswith("service-")

    def test_bad_name_is_refused(self) -> None:
        with pytest.raises(ValueError, match="not usable"):
            ServiceConfig(name="has spaces/and slashes")

    def test_probe_policy_bounds(self) -> None:
        with pytest.raises(ValueError, match="initial_interval"):
            ProbePolicy(initial_interval=5, period=1)

    def test_status_codes_are_http_codes(self) -> None:
        with pytest.raises(ValueError, match="100-599"):
            HTTPEndpointHealthMonitorConfig(http_status_codes={700})

    def test_definition_without_type_says_what_to_write(self) -> None:
        with pytest.raises(ConfigError, match="no `type`"):
            load_service({"config": {"name": "a"}})

    def test_yaml_definition_loads(self) -> None:
        text = (
            "type: command\nconfig:\n  name: web\n  command: [python, -m, http.server, '{port}']\n"
            "endpoint:\n  port: 8765\n  health: /\n"
        )
        service = load_service(text)
        assert isinstance(service, CommandService)
        assert service.endpoint is not None and service.endpoint.config.port == 8765
        assert isinstance(service.endpoint.monitor, HTTPEndpointHealthMonitor)


class TestStatus:
    def test_update_state_keeps_last_state_and_sticky_error(self) -> None:
        status = ServiceStatus()
        status.update_state(ServiceState.ERROR, "boom")
        status.update_state(ServiceState.ACTIVE)
        assert status.last_state == ServiceState.ERROR
        assert status.last_error == "boom"
        status.clear_error()
        assert status.last_error == ""

    def test_labels_come_from_identity_fields(self) -> None:
        config = ServiceConfig(name="m", pipeline_name="train", model_name="iris", labels={"team": "ml"})
        assert config.get_service_labels() == {
            "name": "m",
            "pipeline_name": "train",
            "model_name": "iris",
            "team": "ml",
        }

    def test_secret_env_is_never_serialised(self) -> None:
        service = CommandService.http("s", "true", secret_env={"API_KEY": "s3cr3t"})
        assert "s3cr3t" not in service.to_json()
        assert "API_KEY" not in service.to_json()

    def test_http_endpoint_helper_validates_port(self) -> None:
        with pytest.raises(ConfigError, match="between 1 and 65535"):
            http_endpoint(70000)


# Deferred builds complete the models a model holds first (plugin_core.model.deferred): a held
# model named before it is defined, or the model itself, must still resolve.
class Shelf(BaseTypedModel):
    books: list[Book] = []
    featured: Book | None = None


class Book(BaseTypedModel):
    title: str
    sequel: Book | None = None


class TestDeferredBuilds:
    def test_model_holding_a_model_defined_after_it_loads(self) -> None:
        shelf = Shelf.from_dict({"books": [{"title": "a"}], "featured": {"title": "b"}})
        assert [book.title for book in shelf.books] == ["a"]
        assert shelf.featured is not None and shelf.featured.title == "b"
        assert Shelf.from_json(shelf.to_json()) == shelf

    def test_model_holding_itself_round_trips(self) -> None:
        book = Book.from_dict({"title": "one", "sequel": {"title": "two", "sequel": {"title": "3"}}})
        assert book.sequel is not None and book.sequel.sequel is not None
        assert book.sequel.sequel.title == "3"
        assert Book.from_json(book.to_json()) == book

    def test_bad_held_model_names_its_field(self) -> None:
        with pytest.raises(ConfigError, match=r"books\.0\.title"):
            Shelf.from_dict({"books": [{"title": 3}]})

    def test_a_document_validates_as_the_class_it_names(self) -> None:
        """Loading a command service builds the command service's schema, not BaseService's:
        the base holds every base model a backend replaces (a fresh interpreter, since this one
        has built them all)."""
        code = (
            "from plugin_core import BaseService, CommandService, load_service\n"
            "from plugin_core.model.restart import RestartPolicy\n"
            "s = load_service({'type': 'command', 'config': {'name': 'p', 'command': ['true']}})\n"
            "assert isinstance(s, CommandService), type(s)\n"
            "assert CommandService.__pydantic_complete__ and RestartPolicy.__pydantic_complete__\n"
            "assert not BaseService.__pydantic_complete__, 'BaseService schema was built'\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
