"""The one waiting loop: quick first probes, backing off to a cap, on a monotonic clock.

``start(timeout)``, ``poll_service_status``, the CLI's live view, the Prefect
task and the Airflow sensor and trigger all wait through :func:`wait_until` or
:func:`await_until`, so a fast service is seen at once and a slow one costs
little, everywhere alike.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from plugin_core.errors import ConfigError
from plugin_core.model.probe_policy import ProbePolicy

T = TypeVar("T")


def intervals(policy: ProbePolicy) -> Iterator[float]:
    """Sleep lengths between checks: ``initial_interval`` during ``fast_phase``, then growing to ``period``."""
    interval = policy.initial_interval
    spent = 0.0
    while True:
        yield interval
        spent += interval
        if spent >= policy.fast_phase:
            interval = min(interval * policy.backoff, policy.period)


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


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    policy: ProbePolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """Call ``check`` until it returns something other than None, or ``timeout`` passes.

    Returns the first non-None result, or None on timeout. The last sleep is cut
    short so the deadline is kept to within one check's duration.
    """
    policy = policy or ProbePolicy()
    deadline = clock() + check_timeout(timeout)
    for interval in intervals(policy):
        result = check()
        if result is not None:
            return result
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        sleep(min(interval, remaining))
    return None  # pragma: no cover - intervals() never ends


async def await_until(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    policy: ProbePolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T | None:
    """The asyncio twin of :func:`wait_until`, sharing its schedule."""
    import asyncio  # here, not at module level: sync callers (the CLI) never load it

    policy = policy or ProbePolicy()
    deadline = clock() + check_timeout(timeout)
    for interval in intervals(policy):
        result = await check()
        if result is not None:
            return result
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        await asyncio.sleep(min(interval, remaining))
    return None  # pragma: no cover
