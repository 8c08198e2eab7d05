"""The one waiting loop, on a fake clock (the only place a fake clock is injected)."""

from __future__ import annotations

import itertools

from plugin_core import ProbePolicy, wait_until
from plugin_core.waiting import intervals


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
    steps = list(itertools.islice(intervals(policy), 30))
    assert steps[0] == 0.002
    assert max(steps) == 0.5
    assert steps == sorted(steps)


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
