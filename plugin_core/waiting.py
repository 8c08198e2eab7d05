"""The one waiting loop: quick first probes, backing off to a cap, on a monotonic clock.

``start(timeout)``, ``poll_service_status``, the CLI's live view, the Prefect
task and the Airflow sensor and trigger all wait through :func:`wait_until` or
:func:`await_until`, so a fast service is seen at once and a slow one costs
little, everywhere alike. So do the waits that are not for a service: a process
to end, a busy workflow service's ``Retry-After``, a webhook's backoff. A loop
elsewhere that sleeps is a timer or a worker's main loop, and says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from plugin_core.errors import ConfigError
from plugin_core.model.probe_policy import ProbePolicy

T = TypeVar("T")


#: A wait for a condition (one with a deadline) never pauses, after the fast phase, longer
#: than this share of the time it has waited, so a service that takes T to come up is seen
#: within about T/10 of it: by the backoff alone, a model server loading for 4 s could be seen
#: up to a whole ``period`` (1 s by default) late. A retry schedule (a wait counted in
#: attempts: a webhook's redelivery) backs off as its policy says.
RELATIVE_LAG = 0.1


def intervals(
    policy: ProbePolicy,
    relative_lag: float = 0.0,
    elapsed: Callable[[], float] | None = None,
) -> Iterator[float]:
    """Sleep lengths between checks: ``initial_interval`` during ``fast_phase``, then growing
    by ``backoff`` to ``period``; with ``relative_lag``, never beyond that share of the time
    waited (nor below ``initial_interval``). The time waited is ``elapsed()`` when given (a
    clock: checks take time too, a Serve status read 50 ms), else the sum of the pauses."""
    interval = policy.initial_interval
    spent = 0.0
    while True:
        yield interval
        spent = elapsed() if elapsed is not None else spent + interval
        if spent >= policy.fast_phase:
            interval = min(interval * policy.backoff, policy.period)
            if relative_lag:
                interval = min(interval, max(policy.initial_interval, spent * relative_lag))


def backoff(policy: ProbePolicy, steps: int) -> float:
    """The interval after ``steps`` backoffs: ``initial_interval * backoff**steps``, capped at
    ``period`` (for a wait that resumes where an earlier one left off, as after a flap)."""
    return min(policy.period, policy.initial_interval * policy.backoff**steps)


def check_timeout(value: float, field: str = "timeout") -> float:
    """``value`` as seconds to wait: a finite number >= 0, else a ConfigError naming ``field``.

    Every public function that takes a timeout checks it first, before it launches or stops
    anything, so a bad one never leaves a half-done operation (and NaN never waits forever).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{field} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"{field} must be a finite number of seconds >= 0, got {value!r}: "
            "give e.g. 30 (or 0 to check once)"
        )
    return float(value)


@dataclass(frozen=True)
class Later:
    """A check's answer "not yet; ask again in ``seconds``", as a server's ``Retry-After``.

    It stands in for the schedule's next interval (still cut to the deadline), so a
    caller that knows when to ask again waits exactly that long and no loop of its own.
    """

    seconds: float


class Schedule:
    """The pauses of one wait: the policy's intervals (or a :class:`Later`) cut to the deadline.

    :func:`wait_until` and :func:`await_until` both take their pauses from here, so the
    sync and the async wait cannot drift apart. ``timeout`` None means no deadline, only
    ``attempts`` (checks in all); one of the two must be given. A wait without ``attempts``
    watches for a condition and keeps its pauses under :data:`RELATIVE_LAG` of the time
    waited; one with ``attempts`` is a retry schedule and backs off as the policy says.
    """

    def __init__(
        self,
        timeout: float | None,
        policy: ProbePolicy | None = None,
        *,
        attempts: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout is None and attempts is None:
            raise ConfigError("a wait needs a timeout or a number of attempts")
        self._clock = clock
        self._deadline = math.inf if timeout is None else clock() + check_timeout(timeout)
        lag = RELATIVE_LAG if attempts is None else 0.0  # attempts: a retry schedule
        began = clock()
        self._intervals = intervals(policy or ProbePolicy(), lag, lambda: clock() - began)
        self._checks_left = math.inf if attempts is None else attempts

    def pause(self, answer: object = None) -> float | None:
        """Seconds to sleep after a check that said ``answer`` (None or a Later); None: stop."""
        self._checks_left -= 1
        remaining = self._deadline - self._clock()
        if remaining <= 0 or self._checks_left <= 0:
            return None
        interval = next(self._intervals)
        return min(answer.seconds if isinstance(answer, Later) else interval, remaining)


def wait_until(
    check: Callable[[], T | Later | None],
    *,
    timeout: float | None,
    policy: ProbePolicy | None = None,
    attempts: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """Call ``check`` until it returns something other than None (or a Later), or time is up.

    Returns the first such result, or None once ``timeout`` has passed (or ``attempts``
    checks were made). The last sleep is cut short so the deadline is kept to within
    one check's duration.
    """
    schedule = Schedule(timeout, policy, attempts=attempts, clock=clock)
    while True:
        answer = check()
        if answer is not None and not isinstance(answer, Later):
            return answer
        pause = schedule.pause(answer)
        if pause is None:
            return None
        sleep(pause)


async def await_until(
    check: Callable[[], Awaitable[T | Later | None]],
    *,
    timeout: float | None,
    policy: ProbePolicy | None = None,
    attempts: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> T | None:
    """The asyncio twin of :func:`wait_until`, on the same :class:`Schedule`.

    ``sleep`` (default ``asyncio.sleep``) may end early (an ``asyncio.Event`` set by
    whoever changed what ``check`` reads): the next check then comes at once, and the
    schedule goes on from there.
    """
    import asyncio  # here, not at module level: sync callers (the CLI) never load it

    sleep = sleep or asyncio.sleep
    schedule = Schedule(timeout, policy, attempts=attempts, clock=clock)
    while True:
        answer = await check()
        if answer is not None and not isinstance(answer, Later):
            return answer
        pause = schedule.pause(answer)
        if pause is None:
            return None
        await sleep(pause)
