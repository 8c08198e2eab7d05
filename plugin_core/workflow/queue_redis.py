"""Redis Streams intake for several replicas of one service.

llama_deploy's Redis queue used Pub/Sub, so every replica ran every task and a
task published with no subscriber was dropped. Here tasks go into a Stream read
through one consumer group: each entry is delivered to one replica, stays
pending until that replica writes the final record and acks it, and entries
pending on a replica whose heartbeat died are claimed back and requeued. The
put is a Lua script, so the idempotency check, the intake limit and the append
are one atomic step.

Connections retry with exponential backoff and are health-checked; what still
fails (Redis down, restarting, loading its data) raises
:class:`QueueUnavailableError` from :meth:`RedisTaskQueue._do`, the one edge to
redis-py, and the runtime rides it out. A command whose reply was lost in an
outage may leave an entry pending on this very replica: :meth:`recover`
requeues those too, so no accepted task is stranded.

Keys, under ``outlive:wf:<service>``: ``:stream`` (entries ``task_id``),
``:task:<id>`` (record JSON), ``:queued`` (waiting count), ``:events:<id>`` (list).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar

from plugin_core.workflow.errors import QueueUnavailableError
from plugin_core.workflow.models import TaskEvent, TaskRecord
from plugin_core.workflow.queue import TaskQueue, requeued_record, start_record

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")

GROUP = "workers"
_RECLAIM_MIN_IDLE_MS = 1000
_RETRIES = 3
_HEALTH_CHECK_INTERVAL = 5
_CONNECT_TIMEOUT = 2.0
# redis-py's aclose() can wait forever in the stream writer's wait_closed()
# (redis/redis-py#3941, open): a replica's shutdown then never ends. Closing is bounded.
CLOSE_TIMEOUT = 2.0
_PUT = """
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
local queued = tonumber(redis.call('GET', KEYS[2]) or '0')
if queued >= tonumber(ARGV[2]) then return {-1} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], '*', 'task_id', ARGV[3])
return {1}
"""


class RedisTaskQueue(TaskQueue):
    """Competing consumers on a Redis Stream; at-least-once, exactly once unless a replica dies."""

    durable = True

    def __init__(
        self,
        url: str,
        *,
        service_name: str,
        poll_interval: float = 0.1,
        result_ttl: float = 86400.0,
        max_connections: int = 32,
    ) -> None:
        super().__init__(poll_interval)
        self.url = url
        self.prefix = f"outlive:wf:{service_name}"
        self.stream = f"{self.prefix}:stream"
        self.result_ttl = int(result_ttl)
        self._max_connections = max_connections
        self.channel = f"{self.prefix}:changed"
        self._redis: Redis | None = None
        self._entries: dict[str, str] = {}
        self._listener: asyncio.Task[None] | None = None

    async def open(self) -> None:
        try:
            from redis.asyncio import BlockingConnectionPool, Redis
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            from plugin_core.errors import ConfigError

            raise ConfigError(
                "queue_url redis:// needs the redis extra: pip install 'outlive[redis]'"
            ) from exc
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import (
            ConnectionError as RedisConnectionError,
            TimeoutError as RedisTimeoutError,
        )

        pool = BlockingConnectionPool.from_url(
            self.url,
            max_connections=self._max_connections,
            decode_responses=True,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), _RETRIES),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            health_check_interval=_HEALTH_CHECK_INTERVAL,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            socket_keepalive=True,
        )
        self._redis = Redis(connection_pool=pool)
        await self._do(self._create_group)
        self._listener = asyncio.create_task(self._listen(), name="workflow-redis-changes")

    async def _create_group(self) -> None:
        from redis.exceptions import ResponseError

        try:
            await self._r.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _do(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run one queue operation; an unreachable Redis becomes :class:`QueueUnavailableError`.

        A stream or group lost with Redis's data (a restart without persistence) is
        recreated and the operation tried once more, so the service keeps working.
        """
        from redis.exceptions import (
            ConnectionError as RedisConnectionError,
            ResponseError,
            TimeoutError as RedisTimeoutError,
        )

        for attempt in (1, 2):
            try:
                return await command()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                raise QueueUnavailableError(self.url, f"redis: {exc}") from None
            except ResponseError as exc:
                if "NOGROUP" not in str(exc) or attempt == 2:
                    raise
                await self._do(self._create_group)
        raise AssertionError("unreachable")  # pragma: no cover

    async def ping(self) -> None:
        await self._do(self._r.ping)

    async def _listen(self) -> None:
        """Wake local waiters when any replica finishes a task or stores an event.

        Pub/Sub may drop messages, and is down with Redis; that only costs latency,
        because waiters also poll. The subscription is renewed after an outage: this is the
        listener's main loop, and its pause after a lost connection only keeps it from
        spinning while the outage probe (``outage.py``, through ``waiting``) does the waiting.
        """
        from redis.exceptions import (
            ConnectionError as RedisConnectionError,
            TimeoutError as RedisTimeoutError,
        )

        while True:
            pubsub = self._r.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    self._signal(str(message["data"]))
            except (RedisConnectionError, RedisTimeoutError, OSError):
                await asyncio.sleep(1.0)
            finally:
                await _bounded_close(pubsub.aclose)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._redis is not None:
            await _bounded_close(self._redis.aclose)
            self._redis = None

    @property
    def _r(self) -> Redis:
        if self._redis is None:
            raise RuntimeError(f"task queue {self.prefix} is not open")
        return self._redis

    def _task_key(self, task_id: str) -> str:
        return f"{self.prefix}:task:{task_id}"

    async def put(
        self, record: TaskRecord, limit: int, replica_id: str | None = None
    ) -> TaskRecord | None:
        """Append to the stream unless ``limit`` entries are undelivered (the counter drops
        when a replica's XREADGROUP takes one). No local hand-out: an idle worker of any
        replica blocks in XREADGROUP and gets the entry at once, so at least one task must
        be able to wait: a ``limit`` of 0 counts as 1."""
        keys = [self._task_key(record.task_id), f"{self.prefix}:queued", self.stream]
        argv: list[str | int] = [record.model_dump_json(), max(limit, 1), record.task_id]
        answer: Any = await self._do(lambda: self._r.eval(_PUT, len(keys), *keys, *argv))
        if answer[0] == -1:
            return None
        return record if answer[0] == 1 else TaskRecord.model_validate_json(answer[1])

    async def adopt(self, record: TaskRecord) -> TaskRecord:
        """SET NX: no stream entry, so a replica dying mid-call does not requeue it."""
        key = self._task_key(record.task_id)
        if await self._do(lambda: self._r.set(key, record.model_dump_json(), nx=True)):
            return record
        stored = await self.get(record.task_id)
        return stored or record

    async def claim(self, replica_id: str, wait: float) -> TaskRecord | None:
        answer: Any = await self._do(
            lambda: self._r.xreadgroup(
                GROUP, replica_id, {self.stream: ">"}, count=1, block=max(1, int(wait * 1000))
            )
        )
        if not answer:
            return None
        entry_id, fields = answer[0][1][0]
        await self._do(lambda: self._r.decr(f"{self.prefix}:queued"))
        stored = await self.get(fields["task_id"])
        if stored is None:  # expired or deleted while waiting: drop the entry
            await self._do(lambda: self._ack(entry_id))
            return None
        record = start_record(stored, replica_id)
        await self._do(
            lambda: self._r.set(self._task_key(record.task_id), record.model_dump_json())
        )
        self._entries[record.task_id] = entry_id
        return record

    async def _store_final(self, record: TaskRecord) -> None:
        entry_id = self._entries.get(record.task_id)
        await self._do(lambda: self._write_final(record, entry_id))
        self._entries.pop(record.task_id, None)  # only once stored: a retry needs the entry

    async def _write_final(self, record: TaskRecord, entry_id: str | None) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.set(self._task_key(record.task_id), record.model_dump_json(), ex=self.result_ttl)
            if entry_id is not None:
                pipe.xack(self.stream, GROUP, entry_id)
                pipe.xdel(self.stream, entry_id)
            pipe.publish(self.channel, record.task_id)
            await pipe.execute()

    async def release(self, record: TaskRecord) -> None:
        entry_id = self._entries.get(record.task_id)
        await self._do(lambda: self._requeue(requeued_record(record), entry_id))
        self._entries.pop(record.task_id, None)

    async def _requeue(self, record: TaskRecord, entry_id: str | None) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.set(self._task_key(record.task_id), record.model_dump_json())
            if entry_id is not None:
                pipe.xack(self.stream, GROUP, entry_id)
                pipe.xdel(self.stream, entry_id)
            pipe.xadd(self.stream, {"task_id": record.task_id})
            pipe.incr(f"{self.prefix}:queued")
            await pipe.execute()

    async def _ack(self, entry_id: str) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, entry_id)
            pipe.xdel(self.stream, entry_id)
            await pipe.execute()

    async def get(self, task_id: str) -> TaskRecord | None:
        text = await self._do(lambda: self._r.get(self._task_key(task_id)))
        return None if text is None else TaskRecord.model_validate_json(text)

    async def backlog(self) -> int:
        return int(await self._do(lambda: self._r.get(f"{self.prefix}:queued")) or 0)

    async def recover(self, replica_id: str, live_replicas: Collection[str]) -> int:
        """Claim entries pending on dead consumers (idle > 1 s, so two recoverers never both
        win one entry) and put them back at the end of the stream.

        Entries pending on this replica that it does not hold (a delivery whose reply was
        lost in an outage) are requeued the same way.
        """
        return await self._do(lambda: self._recover(replica_id, set(live_replicas)))

    async def _recover(self, replica_id: str, live: set[str]) -> int:
        held = set(self._entries.values())
        pending: Any = await self._r.xpending_range(
            self.stream, GROUP, min="-", max="+", count=1000, idle=_RECLAIM_MIN_IDLE_MS
        )
        by_consumer: dict[str, list[str]] = {}
        for entry in pending:
            consumer, entry_id = entry["consumer"], entry["message_id"]
            lost_here = consumer == replica_id and entry_id not in held
            if lost_here or (consumer not in live and consumer != replica_id):
                by_consumer.setdefault(consumer, []).append(entry_id)
        recovered = 0
        for consumer, entry_ids in by_consumer.items():
            claimed: Any = await self._r.xclaim(
                self.stream, GROUP, replica_id, _RECLAIM_MIN_IDLE_MS, list[Any](entry_ids)
            )
            for entry_id, fields in claimed:
                if entry_id in set(self._entries.values()):  # taken by a worker meanwhile
                    continue
                recovered += await self._requeue_orphan(entry_id, fields["task_id"])
            if consumer != replica_id and len(claimed) == len(entry_ids):
                await self._r.xgroup_delconsumer(self.stream, GROUP, consumer)  # forget it
        return recovered

    async def _requeue_orphan(self, entry_id: str, task_id: str) -> int:
        stored = await self.get(task_id)
        if stored is None or stored.is_final:
            await self._ack(entry_id)
            return 0
        await self._requeue(requeued_record(stored), entry_id)
        return 1

    async def _append_event(self, task_id: str, data: Any) -> int:
        return await self._do(lambda: self._push_event(task_id, data))

    async def _push_event(self, task_id: str, data: Any) -> int:
        key = f"{self.prefix}:events:{task_id}"
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(data))
            pipe.expire(key, self.result_ttl)
            pipe.publish(self.channel, task_id)
            seq, _, _ = await pipe.execute()
        return int(seq)

    async def read_events(self, task_id: str, after: int = 0) -> list[TaskEvent]:
        key = f"{self.prefix}:events:{task_id}"
        items = await self._do(lambda: self._r.lrange(key, after, -1))
        return [
            TaskEvent(task_id=task_id, seq=after + i + 1, data=json.loads(item))
            for i, item in enumerate(items)
        ]


async def _bounded_close(close: Callable[[], Awaitable[Any]]) -> None:
    """Close a redis-py client or pubsub within :data:`CLOSE_TIMEOUT` seconds; never raise
    (closing during an outage must not fail, and a close that hangs is abandoned)."""
    with contextlib.suppress(Exception):  # TimeoutError included
        await asyncio.wait_for(close(), CLOSE_TIMEOUT)
