"""The workflow service rides out its queue's outages: Redis killed and restarted, SQLite locked.

Real parts only: a private ``redis-server`` (appendonly, fsync always) SIGKILLed
under two replicas and restarted on the same port with the same data; a second
SQLite connection holding the queue file's write lock.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugin_core.workflow import (
    AsyncWorkflowClient,
    QueueUnavailableError,
    TaskRecord,
    TaskState,
    WorkflowBusyError,
    WorkflowService,
)
from tests.conftest import in_ci
from tests.workflow.conftest import _wait_for_redis, free_port
from tests.workflow.test_redis import replicas

pytestmark = pytest.mark.integration


class RedisServer:
    """A redis-server that can be SIGKILLed and restarted with its data (AOF, fsync always)."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if in_ci():
                pytest.fail("redis-server is missing in CI: apt-get install -y redis-server")
            pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_redis(self.port, self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.workdir.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def readiness(url: str) -> tuple[int, str]:
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(f"{url}/readyz")
    return answer.status_code, str(answer.json()["reason"])


async def until(check: Any, limit: float = 60.0) -> Any:
    """Await ``check()`` every 50 ms until it returns something truthy (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {limit:g}s")


class TestRedisOutage:
    def test_replicas_survive_a_killed_redis_and_finish_every_accepted_task(
        self, redis_server: RedisServer, registry_url: str, tmp_path: Path
    ) -> None:
        """SIGKILL redis-server under two busy replicas, restart it: no replica exits,
        /readyz reports the outage and recovers, every accepted task completes once."""
        log = tmp_path / "ran.log"
        processes: list[subprocess.Popen[bytes]] = []
        settings = {"queue_outage_limit": "120", "max_concurrent_tasks": "4"}
        with replicas(2, redis_server.url, registry_url, log, processes, **settings) as urls:
            outcome = asyncio.run(self._outage_during_load(urls, redis_server))
            alive = [process.poll() for process in processes]
        accepted, records, seen_down, refused = outcome
        assert alive == [None, None]  # neither replica exited during the outage
        assert [process.returncode for process in processes] == [0, 0]  # clean stop after
        assert all(reason.startswith("task queue unavailable") for reason in seen_down)
        assert len(seen_down) == 2 and refused  # both reported it; submissions got 503
        assert len(accepted) >= 40
        assert [r.state for r in records] == [TaskState.SUCCEEDED] * len(accepted)
        assert sorted(r.task_id for r in records) == sorted(accepted)
        runs = collections.Counter(line.split()[0] for line in log.read_text().splitlines())
        assert set(accepted) <= set(runs)  # every accepted task ran
        reran = {task_id for task_id, count in runs.items() if count > 1}
        assert all(r.attempts >= 2 for r in records if r.task_id in reran)

    def test_a_replica_exits_after_an_outage_longer_than_its_limit(
        self, redis_server: RedisServer, registry_url: str, tmp_path: Path
    ) -> None:
        """Redis gone for longer than queue_outage_limit: the replica exits 1 after one
        ERROR line that names the limit, and without a traceback."""
        processes: list[subprocess.Popen[bytes]] = []
        log = tmp_path / "ran.log"
        with replicas(1, redis_server.url, registry_url, log, processes, queue_outage_limit="2"):
            redis_server.kill()
            processes[0].wait(timeout=60)
        assert processes[0].returncode == 1
        output = next(tmp_path.glob("replica-*.log")).read_text()
        errors = [line for line in output.splitlines() if " ERROR " in line]
        assert len(errors) == 1 and "queue_outage_limit=2s" in errors[0]
        assert "Traceback" not in output

    @staticmethod
    async def _outage_during_load(
        urls: list[str], redis_server: RedisServer
    ) -> tuple[list[str], list[TaskRecord], list[str], list[int]]:
        clients = [AsyncWorkflowClient(url) for url in urls]
        accepted: list[str] = []
        refused: list[int] = []

        async def submit(index: int) -> None:
            try:
                body = {"index": index, "seconds": 0.2}
                accepted.append(await clients[index % 2].submit(body))
            except WorkflowBusyError as busy:
                assert busy.retry_after >= 1
                refused.append(busy.status_code)

        try:
            await asyncio.gather(*(submit(i) for i in range(30)))  # running when redis dies
            redis_server.kill()

            async def both_down() -> list[str] | None:
                answers = [await readiness(url) for url in urls]
                down = [reason for code, reason in answers if code == 503]
                return down if len(down) == 2 else None

            seen_down = await until(both_down)
            await asyncio.gather(*(submit(i) for i in range(30, 40)))  # refused with 503
            await asyncio.sleep(1.5)
            redis_server.start()

            async def both_ready() -> bool:
                return all([(await readiness(url))[0] == 200 for url in urls])

            await until(both_ready)
            await asyncio.gather(*(submit(i) for i in range(40, 70)))
            records = await asyncio.gather(
                *(clients[0].wait(task_id, timeout=120) for task_id in accepted)
            )
        finally:
            await asyncio.gather(*(client.aclose() for client in clients))
        return accepted, list(records), seen_down, refused


def sqlite_service(tmp_path: Path, workflow: str, **settings: Any) -> WorkflowService:
    return WorkflowService.for_workflow(
        f"tests.workflow.flows:{workflow}",
        name=f"wf-{workflow}",
        queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
        **settings,
    )


class TestSQLiteOutage:
    @pytest.mark.asyncio
    async def test_locked_queue_file_answers_503_then_resumes(self, tmp_path: Path) -> None:
        """Another program holding the queue file's write lock: submissions get a clear 503,
        /readyz says why, a task finishing meanwhile keeps its result, and all resumes."""
        local = await sqlite_service(tmp_path, "sleepy").launch_local()
        try:
            async with AsyncWorkflowClient(local.url) as client:
                running = await client.submit({"seconds": 1.0})
                lock = sqlite3.connect(tmp_path / "queue.db", isolation_level=None)
                lock.execute("BEGIN EXCLUSIVE")
                try:
                    with pytest.raises(WorkflowBusyError) as refused:
                        await client.submit({"seconds": 0})
                    code, reason = await readiness(local.url)
                    await asyncio.sleep(1.5)  # the running task ends while the file is locked
                finally:
                    lock.execute("ROLLBACK")
                    lock.close()
                assert refused.value.status_code == 503 and refused.value.retry_after >= 1
                assert "task queue is unavailable" in str(refused.value)
                assert "database is locked" in str(refused.value)
                assert code == 503 and reason.startswith("task queue unavailable")
                finished = await client.wait(running, timeout=30)
                assert finished.state == TaskState.SUCCEEDED and finished.result == "woke"
                await until(lambda: _ready(local.url))
                assert await client.run(seconds=0) == "woke"
            assert not local.done()
        finally:
            await local.stop()

    @pytest.mark.asyncio
    async def test_full_queue_file_answers_503_then_resumes(self, tmp_path: Path) -> None:
        """SQLITE_FULL ("database or disk is full"): a clear 503, no crash, and every task
        accepted before it completes once the file has room again."""
        local = await sqlite_service(tmp_path, "echo").launch_local()
        queue: Any = local.runtime.queue
        # A real SQLITE_FULL without filling this machine's disk: cap the queue file's size
        # on the queue's own connection (the cap is per connection).
        pages = await queue._run(lambda: queue._db.execute("PRAGMA page_count").fetchone()[0])
        await queue._run(lambda: queue._db.execute(f"PRAGMA max_page_count = {pages + 2}"))
        accepted: list[str] = []
        try:
            async with AsyncWorkflowClient(local.url) as client:
                refused = None
                for index in range(500):
                    try:
                        accepted.append(await client.submit({"n": index, "pad": "x" * 4000}))
                    except WorkflowBusyError as busy:
                        refused = busy
                        break
                assert refused is not None and refused.status_code == 503
                assert "database or disk is full" in str(refused)
                await queue._run(lambda: queue._db.execute("PRAGMA max_page_count = 1073741823"))
                await until(lambda: _ready(local.url))
                assert await client.run(n=-1) == {"echo": {"n": -1}}
                records = [await client.wait(task_id, timeout=30) for task_id in accepted]
            assert not local.done()
        finally:
            await local.stop()
        assert accepted and {r.state for r in records} == {TaskState.SUCCEEDED}
        assert [r.result["echo"]["n"] for r in records] == list(range(len(accepted)))
        assert {r.attempts for r in records} == {1}

    @pytest.mark.asyncio
    async def test_outage_longer_than_the_limit_stops_the_replica_with_a_clear_line(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Past queue_outage_limit the replica gives up: one ERROR line names the limit."""
        local = await sqlite_service(tmp_path, "sleepy", queue_outage_limit=1).launch_local()
        lock = sqlite3.connect(tmp_path / "queue.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            with caplog.at_level(logging.WARNING, logger="plugin_core.workflow"):
                async with AsyncWorkflowClient(local.url) as client:
                    with pytest.raises(WorkflowBusyError):
                        await client.submit({"seconds": 0})
                with pytest.raises(QueueUnavailableError, match="queue_outage_limit=1s"):
                    await asyncio.wait_for(asyncio.shield(local), timeout=60)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "queue_outage_limit=1s" in errors[0].getMessage()
        assert "this replica stops" in errors[0].getMessage()


async def _ready(url: str) -> bool:
    return (await readiness(url))[0] == 200


class TestExactIntake:
    @pytest.mark.asyncio
    async def test_a_burst_never_shows_more_than_max_queued_tasks_waiting(
        self, tmp_path: Path
    ) -> None:
        """max_queued_tasks=5, two workers, a burst of 40: at most 2 run and 5 wait, the rest
        get 429, and no moment shows a sixth waiting task (a task counts as taken when the
        queue hands it out)."""
        settings = {"max_concurrent_tasks": 2, "max_queued_tasks": 5, "drain_timeout": 0}
        local = await sqlite_service(tmp_path, "sleepy", **settings).launch_local()
        peak = 0
        sampling = True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, await local.runtime.queue.backlog())
                await asyncio.sleep(0)

        sampler = asyncio.create_task(sample())
        try:
            async with httpx.AsyncClient(base_url=local.url, timeout=30) as http:
                answers = await asyncio.gather(
                    *(http.post("/tasks", json={"input": {"seconds": 60}}) for _ in range(40))
                )
        finally:
            sampling = False
            await sampler
            await local.stop()
        codes = collections.Counter(answer.status_code for answer in answers)
        states = collections.Counter(a.json()["state"] for a in answers if a.status_code == 202)
        # Both workers idle: 2 handed out at once + 5 waiting. (A worker caught between two
        # polls of the queue at the burst's start takes its task a moment later instead, so
        # the first answers may say "queued" for a task a worker then takes.)
        assert set(codes) == {202, 429} and 5 <= codes[202] <= 7
        assert states["running"] <= 2 and states["queued"] <= 5
        assert peak <= 5


class TestIdempotency:
    @pytest.mark.asyncio
    async def test_fifty_duplicate_submissions_make_one_task(self, tmp_path: Path) -> None:
        """50 concurrent submissions with one idempotency key (body or header): one task."""
        local = await sqlite_service(tmp_path, "add").launch_local()
        try:
            async with (
                AsyncWorkflowClient(local.url) as client,
                httpx.AsyncClient(base_url=local.url) as http,
            ):
                by_body = [
                    client.submit({"a": i, "b": 1}, idempotency_key="order-7") for i in range(25)
                ]
                by_header = [
                    http.post(
                        "/tasks",
                        json={"input": {"a": 100, "b": i}},
                        headers={"Idempotency-Key": "order-7"},
                    )
                    for i in range(25)
                ]
                results = await asyncio.gather(*by_body, *by_header)
                ids = {r if isinstance(r, str) else r.json()["task_id"] for r in results}
                assert len(ids) == 1
                record = await client.wait(ids.pop(), timeout=10)
                info = await client.info()
                other = await client.submit({"a": 1, "b": 1}, idempotency_key="order-8")
        finally:
            await local.stop()
        assert record.state == TaskState.SUCCEEDED and record.attempts == 1
        assert info["counts"]["succeeded"] == 1
        assert other != record.task_id
