"""Blocks save, load and register through a real Prefect API, and refuse bad fields clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from prefect.blocks.core import Block, block_schema_to_key
from prefect.client.orchestration import get_client
from prefect.utilities.dispatch import lookup_type
from pydantic import SecretStr, ValidationError

import plugin_core as core
import prefect_ext
from prefect_ext import (
    CommandServiceBlock,
    ContainerServiceBlock,
    LocalDaemonServiceBlock,
    ServiceRegistryBlock,
)

pytestmark = pytest.mark.integration

BLOCK_SLUGS = {
    "outlive-command-service",
    "outlive-docker-host",
    "outlive-docker-registry-credentials",
    "outlive-local-daemon-service",
    "outlive-container-service",
    "outlive-service-registry",
}


class TestCollection:
    def test_the_server_registers_the_blocks_from_the_entry_point(self) -> None:
        """A Prefect server loads the `prefect.collections` entry point and lists the block types.

        Kept first in the module: later tests save and register blocks themselves.
        """
        with get_client(sync_client=True) as client:
            slugs = {block_type.slug for block_type in client.read_block_types()}

        assert slugs >= BLOCK_SLUGS


class TestCommandServiceBlock:
    def test_save_and_load_round_trip(self, http_command: list[str]) -> None:
        """A saved block loads back by name, and by slug/name through the base Block."""
        block = CommandServiceBlock(
            service_name="docs-server",
            command=http_command,
            env={"MODE": "test"},
            port=8765,
            labels={"team": "ml"},
            restart="on-failure",
        )
        block.save("docs-server", overwrite=True)

        loaded = CommandServiceBlock.load("docs-server")
        generic = Block.load("outlive-command-service/docs-server")

        assert loaded == block
        assert isinstance(generic, CommandServiceBlock) and generic.command == http_command

    def test_turns_into_a_core_command_service(self, http_command: list[str]) -> None:
        """get_service() gives the core service the block describes, with its HTTP health check."""
        service = CommandServiceBlock(
            service_name="docs-server", command=http_command, port=8765, health_path="/health"
        ).get_service()

        assert isinstance(service, core.CommandService)
        assert service.config.service_name == "docs-server"
        assert service.config.command == http_command
        assert service.endpoint is not None and service.endpoint.config.port == 8765
        assert isinstance(service.endpoint.monitor, core.HTTPEndpointHealthMonitor)
        assert service.endpoint.monitor.config.healthcheck_uri_path == "/health"

    def test_tcp_protocol_gets_a_tcp_monitor(self) -> None:
        """A TCP service is checked by connecting, not by an HTTP request."""
        service = CommandServiceBlock(
            service_name="raw", command=["nc", "-l", "{port}"], protocol="tcp"
        ).get_service()

        assert service.endpoint is not None
        assert isinstance(service.endpoint.monitor, core.TCPEndpointHealthMonitor)

    def test_no_protocol_means_no_endpoint(self) -> None:
        """A worker-like program with no port has no endpoint to probe."""
        service = CommandServiceBlock(
            service_name="worker", command=["sleep", "100"], protocol=None
        ).get_service()

        assert service.endpoint is None

    @pytest.mark.parametrize(
        ("fields", "named"),
        [
            ({"command": []}, "command"),
            ({"port": 70000}, "port"),
            ({"restart": "sometimes"}, "restart"),
            ({"service_name": "has spaces!"}, "has spaces!"),
            ({"cwd": "relative/dir"}, "cwd must be an absolute path"),
            ({"protocol": "udp"}, "protocol"),
        ],
    )
    def test_bad_fields_are_validation_errors_naming_them(
        self, fields: dict[str, object], named: str
    ) -> None:
        """Creating a block with a bad field fails at once, and the message names the field."""
        values: dict[str, Any] = {"service_name": "ok", "command": ["echo", "hi"]} | fields
        with pytest.raises(ValidationError) as excinfo:
            CommandServiceBlock(**values)
        assert named in str(excinfo.value)

    def test_missing_required_fields_are_named(self) -> None:
        """Without a name and a command, the error lists both."""
        with pytest.raises(ValidationError) as excinfo:
            CommandServiceBlock()  # type: ignore[call-arg]
        message = str(excinfo.value)
        assert "service_name" in message and "command" in message


class TestLocalDaemonServiceBlock:
    def test_save_load_and_build_the_named_subclass(self) -> None:
        """The block names a LocalDaemonService subclass by path and passes its own config fields."""
        block = LocalDaemonServiceBlock(
            service_name="echo",
            service_class="tests.prefect.daemon_services.EchoService",
            config={"greeting": "bonjour"},
        )
        block.save("echo", overwrite=True)

        service = LocalDaemonServiceBlock.load("echo").get_service()

        assert type(service).__name__ == "EchoService"
        assert isinstance(service, core.LocalDaemonService)
        assert service.config.greeting == "bonjour"  # type: ignore[attr-defined]

    def test_service_class_must_be_an_import_path(self) -> None:
        """A class name without its module is refused when the block is created."""
        with pytest.raises(ValidationError, match="service_class"):
            LocalDaemonServiceBlock(service_name="echo", service_class="EchoService")
        with pytest.raises(ValidationError, match="service_class"):
            LocalDaemonServiceBlock(service_name="echo", service_class="my_pkg.EchoService\n")

    def test_unknown_class_is_a_clear_config_error(self) -> None:
        """A path that imports nothing fails when the service is built, saying how to fix it."""
        block = LocalDaemonServiceBlock(service_name="echo", service_class="nowhere.Missing")
        with pytest.raises(core.ConfigError, match=r"nowhere\.Missing"):
            block.get_service()

    def test_a_class_that_is_not_a_local_daemon_is_refused(self) -> None:
        """Naming a container service class in the daemon block is a config error."""
        block = LocalDaemonServiceBlock(
            service_name="echo", service_class="plugin_core.backends.command.CommandService"
        )
        with pytest.raises(core.ConfigError):
            block.get_service()


class TestContainerServiceBlock:
    def test_save_load_and_build_without_importing_docker(self) -> None:
        """A container definition round-trips and becomes a service without importing docker."""
        block = ContainerServiceBlock(
            service_name="cache",
            image="redis:7",
            command=["redis-server", "--port", "{port}"],
            protocol="tcp",
            container_port=6379,
        )
        block.save("cache", overwrite=True)
        loaded = ContainerServiceBlock.load("cache")
        code = (
            "import sys; from prefect_ext import ContainerServiceBlock as B;"
            "s = B(service_name='c', image='redis:7', protocol='tcp').get_service();"
            "print(type(s).__name__, 'docker' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()

        assert loaded == block
        assert loaded.get_service().config.service_name == "cache"
        assert out == ["ContainerService", "False"]

    def test_empty_image_is_refused(self) -> None:
        """A container block needs an image."""
        with pytest.raises(ValidationError, match="image"):
            ContainerServiceBlock(service_name="cache", image="")


class TestServiceRegistryBlock:
    def test_url_is_a_secret_that_survives_save_and_load(self, tmp_path: object) -> None:
        """The URL (which may hold a password) is stored as a secret and never shown in clear."""
        url = "postgresql+psycopg://outlive:s3cret@db.example/outlive"
        block = ServiceRegistryBlock(url=SecretStr(url))
        block.save("shared-registry", overwrite=True)

        loaded = ServiceRegistryBlock.load("shared-registry")

        assert isinstance(loaded.url, SecretStr)
        assert loaded.url.get_secret_value() == url
        assert "s3cret" not in repr(loaded) and "s3cret" not in str(loaded.model_dump())

    def test_builds_the_registry_it_points_at(self, tmp_path: os.PathLike[str]) -> None:
        """get_registry() opens the registry at the URL; empty means the core's default."""
        url = f"sqlite:///{os.fspath(tmp_path)}/registry.db"

        assert ServiceRegistryBlock(url=SecretStr(url)).get_registry().url == url
        assert ServiceRegistryBlock().get_registry().url == core.ServiceRegistry().url

    def test_a_non_url_is_refused(self) -> None:
        """A path instead of a SQLAlchemy URL gives an error with an example."""
        with pytest.raises(ValidationError, match="SQLAlchemy URL"):
            ServiceRegistryBlock(url=SecretStr("/var/lib/outlive/registry.db"))

    def test_a_scheme_in_either_case_is_a_url_but_a_look_alike_letter_is_not(self) -> None:
        """The scheme is ASCII letters of either case; U+212A (the Kelvin sign, which
        re.IGNORECASE folds to "k") does not pass for one."""
        url = "POSTGRESQL+PSYCOPG://outlive@db.example/outlive"
        assert ServiceRegistryBlock(url=SecretStr(url)).url == SecretStr(url)
        with pytest.raises(ValidationError, match="SQLAlchemy URL"):
            ServiceRegistryBlock(url=SecretStr("\u212aafka://broker/outlive"))


class TestRegistration:
    def test_every_block_is_found_under_the_key_prefect_computes(self) -> None:
        """Prefect's own key for each block (read from its whole block schema) finds our class,
        as `Block.load("slug/name")` looks it up: the cheap key the blocks register under is it."""
        exported = [getattr(prefect_ext, name) for name in prefect_ext.blocks.__all__]
        blocks = [cls for cls in exported if issubclass(cls, Block)]

        keys = {cls: block_schema_to_key(cls._to_block_schema()) for cls in blocks}

        assert set(keys.values()) == BLOCK_SLUGS
        assert all(lookup_type(Block, key) is cls for cls, key in keys.items())

    def test_prefect_block_register_finds_every_block(self, run_env: dict[str, str]) -> None:
        """`prefect block register -m prefect_ext` registers the six block types, no mixins."""
        result = subprocess.run(
            [sys.executable, "-m", "prefect", "block", "register", "-m", "prefect_ext"],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Successfully registered 6 blocks" in result.stdout

        with get_client(sync_client=True) as client:
            slugs = {block_type.slug for block_type in client.read_block_types()}
        assert slugs >= BLOCK_SLUGS
        assert not {slug for slug in slugs if "service-block" in slug or "endpoint" in slug}
