"""What a Prefect user expects from a collection: async tasks, clean-up tasks, secret blocks.

Real flows against the session's Prefect server and real services (file servers).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

import plugin_core as core
from prefect_ext import (
    CommandServiceBlock,
    ContainerServiceBlock,
    DockerHostBlock,
    DockerRegistryCredentialsBlock,
    LocalDaemonServiceBlock,
    ServiceRegistryBlock,
    adelete_service,
    aget_service_status,
    astart_service,
    astop_service,
    await_for_service,
    delete_service,
    prune_services,
    start_service,
    stop_service,
)
from prefect_ext.artifacts import artifact_keys
from tests.prefect.test_tasks import http_get, refuses, slow_server_command, unique

pytestmark = pytest.mark.integration


class TestAsyncTasks:
    def test_an_async_flow_starts_and_waits_without_blocking_its_loop(self) -> None:
        """While a slow service starts and is waited for, another coroutine keeps running.

        The server sleeps 2 s before it listens. A task that blocked the loop would let the
        ticker run only after the start returned; here ticks land before "started".
        """
        name = unique("async-slow")
        block = CommandServiceBlock(service_name=name, command=slow_server_command(2.0, name))
        order: list[str] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                order.append("tick")
                await asyncio.sleep(0.02)

        async def start_then_wait() -> dict[str, Any]:
            order.append("starting")
            await astart_service(block, timeout=60)
            order.append("active")
            info = await await_for_service(name, timeout=60)
            done.set()
            return info

        @flow
        async def serve() -> tuple[dict[str, Any], dict[str, Any]]:
            info, _ = await asyncio.gather(start_then_wait(), ticker())
            return info, await aget_service_status(name)

        info, status = asyncio.run(serve())

        assert info["state"] == "active" and status["state"] == "active"
        assert http_get(info["url"])[0] == 200
        link_key, _ = artifact_keys(name)
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[link_key]))
            )
        assert artifacts and info["url"] in str(artifacts[0].data)
        waited = order[order.index("starting") : order.index("active")]
        assert waited.count("tick") >= 3, order

    def test_async_stop_and_delete_clean_up(self, http_command: list[str]) -> None:
        """astop_service stops the process; adelete_service removes the record."""
        block = CommandServiceBlock(service_name=unique("async-web"), command=http_command)

        @flow
        async def lifecycle() -> tuple[dict[str, Any], dict[str, Any] | None]:
            started = await astart_service(block, timeout=30)
            await astop_service(block.service_name)
            return started, await adelete_service(block.service_name)

        started, deleted = asyncio.run(lifecycle())

        assert refuses(started["url"])
        assert deleted is not None and deleted["uuid"] == started["uuid"]
        assert core.find_services(name=block.service_name) == []


class TestCleanUpTasks:
    def test_stop_and_delete_of_a_missing_service_can_be_ignored(self) -> None:
        """ignore_missing makes a clean-up flow idempotent; without it the name is reported."""

        @flow
        def clean_up() -> tuple[Any, Any]:
            return (
                stop_service("never-registered", ignore_missing=True),
                delete_service("never-registered", ignore_missing=True),
            )

        @flow
        def strict() -> Any:
            return delete_service("never-registered")

        assert clean_up() == (None, None)
        with pytest.raises(core.ServiceNotFoundError, match="never-registered"):
            strict()

    def test_delete_stops_the_process_and_removes_the_record(self, http_command: list[str]) -> None:
        """Deleting a running service takes its process and its registry record."""
        block = CommandServiceBlock(service_name=unique("doomed"), command=http_command)

        @flow
        def start_then_delete() -> tuple[dict[str, Any], dict[str, Any] | None]:
            return start_service(block, timeout=30), delete_service(block.service_name)

        started, deleted = start_then_delete()

        assert deleted is not None and deleted["name"] == block.service_name
        assert refuses(started["url"])
        assert not psutil.pid_exists(started["pid"]) or (
            psutil.Process(started["pid"]).status() == psutil.STATUS_ZOMBIE
        )
        assert core.find_services(name=block.service_name) == []

    def test_prune_removes_stopped_services_and_keeps_running_ones(
        self, http_command: list[str]
    ) -> None:
        """A dry run lists the stopped service; the real prune deletes only that one."""
        kept = CommandServiceBlock(service_name=unique("kept"), command=http_command)
        stopped = CommandServiceBlock(service_name=unique("stopped"), command=http_command)

        @flow
        def tidy() -> tuple[dict[str, Any], dict[str, Any]]:
            start_service(kept, timeout=30)
            start_service(stopped, timeout=30)
            stop_service(stopped.service_name)
            return prune_services(dry_run=True), prune_services()

        preview, report = tidy()

        assert stopped.service_name in preview["deleted"]
        assert kept.service_name not in preview["deleted"]
        assert report["deleted"] == preview["deleted"]
        assert [s.config.service_name for s in core.find_services(name=stopped.service_name)] == []
        assert core.get_service(kept.service_name).status.state == core.ServiceState.ACTIVE


class TestSecretsAndEngines:
    def test_env_values_are_secret_in_prefect_and_reach_the_service(self) -> None:
        """Prefect's API shows the value obfuscated, outlive's registry never holds it, and the
        running service really gets it."""
        name = unique("secret-env")
        code = (
            "import http.server, os, sys\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        body = os.environ['API_TOKEN'].encode()\n"
            "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
            "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
        )
        block = CommandServiceBlock(
            service_name=name,
            command=[sys.executable, "-c", code, "{port}"],
            secret_env={"API_TOKEN": "tok-9f3e"},
        )
        document_id = block.save(name, overwrite=True)
        with get_client(sync_client=True) as client:
            shown = client.read_block_document(document_id, include_secrets=False).data

        loaded = CommandServiceBlock.load(name)

        @flow
        def serve() -> dict[str, Any]:
            return start_service(loaded, timeout=30)

        info = serve()
        assert "tok-9f3e" not in str(shown) and "tok-9f3e" not in repr(loaded)
        assert http_get(info["url"]) == (200, "tok-9f3e")
        assert "tok-9f3e" not in core.get_service(name, refresh=False).to_json()
        runtime = Path(info["runtime_path"])
        assert not any(
            "tok-9f3e" in p.read_text(errors="replace") for p in runtime.iterdir() if p.is_file()
        )

    def test_container_block_keeps_its_engine_and_credentials_in_blocks(self) -> None:
        """Host and registry login are nested blocks; the password never reaches the record."""
        block = ContainerServiceBlock(
            service_name=unique("private"),
            image="registry.example.com:5000/team/model:1",
            docker_host=DockerHostBlock(base_url="unix:///run/other-docker.sock"),
            registry_credentials=DockerRegistryCredentialsBlock(
                username="ci", password="pw-7d1c", registry_url="registry.example.com:5000"
            ),
        )
        block.save(block.service_name, overwrite=True)
        loaded = ContainerServiceBlock.load(block.service_name)

        service = loaded.get_service()

        assert service.config.docker_host == "unix:///run/other-docker.sock"
        assert service.config.registry_auth.password.get_secret_value() == "pw-7d1c"
        assert "pw-7d1c" not in service.to_json()

    def test_a_container_block_starts_on_its_own_engine(self) -> None:
        """The block's engine is the one asked: an absent socket fails naming that socket."""
        block = ContainerServiceBlock(
            service_name=unique("elsewhere"),
            image="python:3.12-slim",
            docker_host=DockerHostBlock(base_url="unix:///nonexistent/outlive-docker.sock"),
        )

        @flow
        def serve() -> dict[str, Any]:
            return start_service(block, timeout=10)

        with pytest.raises(core.ContainerEngineError, match=r"nonexistent/outlive-docker\.sock"):
            serve()

    def test_a_non_url_docker_host_is_refused(self) -> None:
        with pytest.raises(ValueError, match="base_url"):
            DockerHostBlock(base_url="/var/run/docker.sock")


class TestCatalogue:
    def test_no_block_links_to_an_unpublished_page(self) -> None:
        """Blocks carry a description and no logo or documentation link that cannot resolve."""
        for cls in (
            CommandServiceBlock,
            LocalDaemonServiceBlock,
            ContainerServiceBlock,
            ServiceRegistryBlock,
            DockerHostBlock,
            DockerRegistryCredentialsBlock,
        ):
            block_type = cls._to_block_type()
            assert block_type.name.startswith("Outlive ") and block_type.description
            assert block_type.logo_url is None and block_type.documentation_url is None
