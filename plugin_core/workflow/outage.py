"""Riding out an outage of the task queue (Redis restarting, the SQLite file locked or full).

When a queue operation raises :class:`QueueUnavailableError`, the runtime marks
the queue down: intake pauses (submissions get 503 with ``Retry-After``,
``/readyz`` says why), workers stop claiming, and a worker holding a finished
task keeps its final record in memory and stores it once the queue is back.
One probe task checks the queue with the core's backoff schedule and resumes
everybody when it answers. Only an outage longer than ``queue_outage_limit``
stops the replica, with one clear log line; the tasks it held then run again
elsewhere or after a restart (delivery is at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from plugin_core.model.probe_policy import ProbePolicy
from plugin_core.waiting import Later, await_until, backoff
from plugin_core.workflow.errors import QueueUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")

_PROBES = ProbePolicy(initial_interval=0.05, fast_phase=0.5, backoff=2.0, period=1.0)
_FLAP_WINDOW = 2.0  # an outage back within this long after recovery is the same outage


class QueueOutage:
    """The queue's availability as this replica sees it, and the wait for its return."""

    def __init__(
        self,
        ping: Callable[[], Awaitable[None]],
        *,
        name: str,
        limit: float,
        give_up: Callable[[QueueUnavailableError], None],
    ) -> None:
        self._ping = ping
        self.name = name
        self.limit = limit
        self._give_up = give_up
        self.down_since: float | None = None
        self.reason = ""
        self.outages = 0
        self._recovered_at: float | None = None
        self._previous_start: float | None = None
        self._flaps = 0
        self.failed: QueueUnavailableError | None = None
        self._up = asyncio.Event()
        self._up.set()
        self._probe: asyncio.Task[None] | None = None

    @property
    def is_down(self) -> bool:
        """True from the first failed operation until a probe succeeds."""
        return self.down_since is not None

    def seconds_down(self) -> float:
        """How long the current outage has lasted (0 when the queue is up)."""
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since

    def mark_down(self, error: QueueUnavailableError) -> None:
        """Record a failed operation; the first one pauses intake and starts the probe."""
        self.reason = error.reason
        if self.down_since is not None:
            return
        now = time.monotonic()
        flapping = self._recovered_at is not None and now - self._recovered_at < _FLAP_WINDOW
        self._flaps = self._flaps + 1 if flapping else 0
        self.down_since = self._previous_start if flapping else now
        self._previous_start = self.down_since
        self._up.clear()
        if not flapping:  # a probe that passed while operations still fail: same outage
            self.outages += 1
            log.warning(
                "task queue %s unavailable (%s): intake paused, finished results kept in "
                "memory until they can be stored; this replica gives up after %gs",
                self.name,
                error.reason,
                self.limit,
            )
        self._probe = asyncio.create_task(self._watch(), name="workflow-queue-probe")

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation``, waiting out outages and retrying it until it succeeds.

        Not a polling loop: between tries it waits for the probe (:meth:`_watch`, which
        polls through :func:`await_until`) to say the queue is back, or that it gave up.
        """
        while True:
            await self._up.wait()
            if self.failed is not None:  # given up: waiters stop at once, the replica exits
                raise self.failed
            try:
                return await operation()
            except QueueUnavailableError as exc:
                self.mark_down(exc)

    async def close(self) -> None:
        """Stop probing (shutdown)."""
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
            self._probe = None

    async def _watch(self) -> None:
        assert self.down_since is not None
        # back off between flaps too, instead of restarting at full speed
        hold_off = [Later(backoff(_PROBES, self._flaps))] if self._flaps else []

        async def answers() -> bool | Later | None:
            if hold_off:
                return hold_off.pop()
            try:
                await self._ping()
            except QueueUnavailableError as exc:
                self.reason = exc.reason
                return None
            return True

        remaining = self.limit - (time.monotonic() - self.down_since)
        if await await_until(answers, timeout=max(remaining, 0.0), policy=_PROBES):
            level = logging.DEBUG if self._flaps else logging.WARNING
            log.log(
                level,
                "task queue %s is back after %.1fs: intake and workers resumed",
                self.name,
                self.seconds_down(),
            )
            self._recovered_at = time.monotonic()
            self.down_since = None
            self._up.set()
            return
        error = QueueUnavailableError(
            self.name,
            f"unavailable for {self.seconds_down():.0f}s, longer than queue_outage_limit="
            f"{self.limit:g}s (last error: {self.reason})",
        )
        log.error(
            "task queue %s has been unavailable for %.0fs (queue_outage_limit=%gs, last error: "
            "%s): this replica stops; unfinished tasks run again after it restarts or on "
            "another replica",
            self.name,
            self.seconds_down(),
            self.limit,
            self.reason,
        )
        self.failed = error
        self._up.set()  # release every waiter: call() raises `failed` from now on
        self._give_up(error)
