"""The one waiting loop, on a fake clock (the only place a fake clock is injected)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from plugin_core import ConfigError, ProbePolicy, await_until, wait_until
from plugin_core.waiting import RELATIVE_LAG, Later, backoff, intervals


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_intervals_start_fast_and_back_off_to_the_cap() -> None:
    """Probes are 2 ms apart at first, then grow, never beyond the period."""
    policy = ProbePolicy(initial_interval=0.002, fast_phase=0.01, backoff=2, period=0.5)
    steps = list(itertools.islice(intervals(policy), 100))
    assert steps[0] == 0.002
    assert max(steps) == 0.5
    assert steps == sorted(steps)


def test_no_pause_exceeds_a_tenth_of_the_time_waited() -> None:
    """A service that takes seconds to come up is seen within about a tenth of that time,
    however far the backoff has grown; the pause still never drops below the first one."""
    policy = ProbePolicy(initial_interval=0.002, fast_phase=0.25, backoff=1.5, period=1.0)
    waited = 0.0
    for pause in itertools.islice(intervals(policy, RELATIVE_LAG), 200):
        if waited >= policy.fast_phase:
            assert policy.initial_interval <= pause <= max(0.002, waited * RELATIVE_LAG) + 1e-12
        waited += pause
    assert waited > 30 and pause == policy.period  # the cap is still reached


def test_a_wait_for_a_condition_keeps_its_pauses_relative() -> None:
    """A deadline wait that backs off to a one-second cap still looks again within a tenth of
    the time waited: a service ready after 4 s is seen by 4.4 s, not up to a second late."""
    clock = FakeClock()
    policy = ProbePolicy(initial_interval=0.002, fast_phase=0.25, backoff=1.5, period=1.0)
    assert wait_until(lambda: "up" if clock.now >= 4.0 else None, timeout=60, policy=policy,
                      clock=clock, sleep=clock.sleep) == "up"
    assert clock.now <= 4.0 * (1 + RELATIVE_LAG) + 1e-9


def test_wait_until_returns_the_first_result() -> None:
    clock = FakeClock()
    answers = iter([None, None, "ready"])
    assert wait_until(lambda: next(answers), timeout=10, clock=clock, sleep=clock.sleep) == "ready"
    assert len(clock.sleeps) == 2


def test_wait_until_keeps_the_deadline() -> None:
    """The last sleep is cut short: the loop ends at the deadline, not one period later."""
    clock = FakeClock()
    policy = ProbePolicy(initial_interval=0.3, fast_phase=0, period=0.3)
    assert wait_until(lambda: None, timeout=1.0, policy=policy, clock=clock, sleep=clock.sleep) is None
    assert abs(clock.now - 1.0) < 1e-9


def test_a_later_answer_sets_the_next_pause_within_the_deadline() -> None:
    """A check that knows when to ask again (a server's Retry-After) waits that long, never
    beyond the deadline; the schedule's own intervals serve the other answers."""
    clock = FakeClock()
    policy = ProbePolicy(initial_interval=0.1, fast_phase=0, period=0.1)
    answers = iter([Later(0.7), None, Later(5.0), None])
    result = wait_until(lambda: next(answers), timeout=2.0, policy=policy, clock=clock, sleep=clock.sleep)
    assert result is None
    assert clock.sleeps == pytest.approx([0.7, 0.1, 1.2])


def test_attempts_bound_a_wait_without_a_deadline() -> None:
    """``timeout=None`` with ``attempts``: exactly that many checks, backing off between them."""
    clock = FakeClock()
    policy = ProbePolicy(initial_interval=0.5, fast_phase=0, backoff=2, period=60)
    checks: list[float] = []
    assert wait_until(lambda: checks.append(clock.now), timeout=None, attempts=4, policy=policy,
                      clock=clock, sleep=clock.sleep) is None
    assert clock.sleeps == [0.5, 1.0, 2.0] and len(checks) == 4
    with pytest.raises(ConfigError, match="timeout or a number of attempts"):
        wait_until(lambda: None, timeout=None)


def test_await_until_shares_the_schedule_and_may_be_woken_early() -> None:
    """The async wait takes the same pauses; a sleep that ends early (an event was set)
    just brings the next check forward."""
    clock = FakeClock()
    policy = ProbePolicy(initial_interval=0.3, fast_phase=0, period=0.3)
    answers = iter([None, None, "done"])

    async def check() -> str | None:
        return next(answers)

    async def sleep(seconds: float) -> None:
        clock.sleep(seconds / 3)  # woken early

    result = asyncio.run(await_until(check, timeout=1.0, policy=policy, clock=clock, sleep=sleep))
    assert result == "done" and clock.sleeps == pytest.approx([0.1, 0.1])


def test_backoff_resumes_the_schedule_after_some_steps() -> None:
    policy = ProbePolicy(initial_interval=0.05, backoff=2, period=1.0)
    assert [backoff(policy, n) for n in range(7)] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
