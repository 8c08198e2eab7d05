"""Replicas of one workflow service sharing a Redis Streams intake (a real redis-server)."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from plugin_core import wait_until
from plugin_core.workflow import AsyncWorkflowClient, ReplicaDirectory, TaskRecord, TaskState
from tests.workflow.conftest import free_port, subprocess_env

pytestmark = pytest.mark.integration


@contextmanager
def replicas(
    count: int,
    redis_url: str,
    registry_url: str,
    log: Path,
    processes: list[subprocess.Popen[bytes]] | None = None,
    **settings: str,
) -> Iterator[list[str]]:
    """``count`` processes of service ``wf-redis`` (``python -m plugin_core.workflow``);
    ``processes`` (if given) receives them, ``settings`` are extra ``OUTLIVE_WORKFLOW_*``."""
    processes = [] if processes is None else processes
    urls, outputs = [], []
    try:
        for _ in range(count):
            port = free_port()
            values = {
                "name": "wf-redis",
                "workflow": "tests.workflow.flows:logged",
                "queue_url": redis_url,
                "registry_url": registry_url,
                "port": str(port),
                "max_concurrent_tasks": "4",
                "max_queued_tasks": "1000",
                "heartbeat_interval": "0.2",
                **settings,
            }
            env = subprocess_env(
                WF_TEST_LOG=str(log),
                **{f"OUTLIVE_WORKFLOW_{key.upper()}": value for key, value in values.items()},
            )
            command = [sys.executable, "-m", "plugin_core.workflow"]
            output = (log.parent / f"replica-{port}.log").open("wb")
            outputs.append(output)
            processes.append(subprocess.Popen(command, env=env, stdout=output, stderr=output))
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            if not wait_until(lambda url=url: _ready(url), timeout=30):
                replica_log = log.parent / f"replica-{url.rsplit(':', 1)[1]}.log"
                pytest.fail(f"{url} never got ready:\n{replica_log.read_text()[-3000:]}")
        yield urls
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            process.wait(timeout=20)
        for output in outputs:
            output.close()


def _ready(url: str) -> bool | None:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200 or None
    except httpx.TransportError:
        return None


async def submit_all(urls: list[str], inputs: list[dict[str, object]]) -> list[TaskRecord]:
    """Submit round-robin across replicas (32 in flight), then wait for every result."""
    clients = [AsyncWorkflowClient(url) for url in urls]
    gate = asyncio.Semaphore(32)

    async def one(index: int, body: dict[str, object]) -> TaskRecord:
        async with gate:
            client = clients[index % len(clients)]
            return await client.wait(await client.submit(body), timeout=60)

    try:
        return await asyncio.gather(*(one(i, body) for i, body in enumerate(inputs)))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


class TestRedisReplicas:
    def test_two_replicas_share_the_work_exactly_once(
        self, redis_url: str, registry_url: str, tmp_path: Path
    ) -> None:
        """300 tasks over two replicas: every one runs once, none lost, both replicas work."""
        log = tmp_path / "ran.log"
        with replicas(2, redis_url, registry_url, log) as urls:
            inputs = [{"index": i, "seconds": 0.002} for i in range(300)]
            records = asyncio.run(submit_all(urls, inputs))
            alive = ReplicaDirectory(registry_url).find("wf-redis", alive=True)
        assert [r.state for r in records] == [TaskState.SUCCEEDED] * 300
        assert sorted(r.result["index"] for r in records) == list(range(300))
        runs = collections.Counter(line.split()[0] for line in log.read_text().splitlines())
        assert len(runs) == 300 and set(runs.values()) == {1}
        assert len({r.replica_id for r in records}) == 2 and len(alive) == 2
        assert ReplicaDirectory(registry_url).find("wf-redis") == []  # both deregistered

    def test_tasks_of_a_killed_replica_are_taken_over(
        self, redis_url: str, registry_url: str, tmp_path: Path
    ) -> None:
        """A replica killed mid-task leaves its tasks pending; the survivor requeues and runs them."""
        log = tmp_path / "ran.log"
        with replicas(2, redis_url, registry_url, log) as urls:
            found = ReplicaDirectory(registry_url).find("wf-redis", alive=True)
            victim = next(r for r in found if r.url == urls[0])
            results = asyncio.run(self._kill_during(urls[1], urls[0], victim.pid))
        assert [r.state for r in results] == [TaskState.SUCCEEDED] * 8
        assert any(r.attempts == 2 for r in results)
        assert {r.replica_id for r in results if r.attempts == 2} != {victim.replica_id}

    @staticmethod
    async def _kill_during(survivor: str, victim: str, pid: int) -> list[TaskRecord]:
        """Submit through the survivor (both replicas claim from the stream), kill the other
        once it runs a task (asked, not assumed after a sleep: a loaded machine is slow)."""
        inputs: list[dict[str, object]] = [{"index": i, "seconds": 1.0} for i in range(8)]
        gathering = asyncio.create_task(submit_all([survivor], inputs))
        async with httpx.AsyncClient(base_url=victim, timeout=5) as http:
            for _ in range(400):  # 20 s at most
                if int((await http.get("/")).json()["counts"]["running"]) >= 1:
                    break
                await asyncio.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        return await gathering


def test_closing_the_queue_ends_even_when_redis_py_never_finishes_closing(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py's ``aclose()`` can wait forever (redis/redis-py#3941): a replica's shutdown
    stalled on it, so SIGTERM never ended the process. The queue abandons such a close."""
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

    from plugin_core.workflow import queue_redis

    closes: list[str] = []

    async def never_closes(self: object) -> None:
        closes.append(type(self).__name__)
        await asyncio.Event().wait()

    async def scenario() -> None:
        queue = queue_redis.RedisTaskQueue(redis_url, service_name="wf-close")
        await queue.open()
        await queue.ping()
        monkeypatch.setattr(PubSub, "aclose", never_closes)
        monkeypatch.setattr(Redis, "aclose", never_closes)
        await asyncio.sleep(0.2)  # the listener is subscribed
        # A hang guard, not a speed check: both closes are abandoned after CLOSE_TIMEOUT.
        await asyncio.wait_for(queue.close(), timeout=10 * queue_redis.CLOSE_TIMEOUT)

    asyncio.run(scenario())
    assert sorted(closes) == ["PubSub", "Redis"]
