"""Watching after the run: notice that a service died, and tell someone.

A :class:`Watcher` observes every service the user asked to run (``admin_state`` ACTIVE) once
per period, compares what it sees with the last state the events log holds for it, and
reports the transition once: ``died`` (ACTIVE, then down), ``gave-up`` (down for good although
a restart policy was set), ``failed`` (never became ACTIVE), ``active`` (up again). Baselines
come from the log, which every start, stop and wait writes too, so a transition the lifecycle
already reported is not reported again, and a status query in between (which saves the new
state in the registry) cannot hide a crash from the watcher.

Every event appended to the log after the watcher started is handed to its sinks: the log
(:class:`LogSink`), a JSON webhook (:class:`WebhookSink`), Prefect (``prefect_ext.sinks``), or
any callable named by its import path. ``outlive watch --service`` runs the watcher as an
outlive service itself, so it outlives runs like everything else.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from plugin_core.errors import ConfigError
from plugin_core.events import EventLog, EventOutcome, ServiceEvent, report
from plugin_core.model.probe_policy import ProbePolicy
from plugin_core.model.restart import RestartPolicy
from plugin_core.model.state import ServiceState
from plugin_core.waiting import wait_until

if TYPE_CHECKING:
    from plugin_core.registry.store import ServiceRegistry
    from plugin_core.service import BaseService

__all__ = [
    "WATCH_SERVICE_NAME",
    "LogSink",
    "Sink",
    "Watcher",
    "WebhookSink",
    "load_sink",
    "transition",
    "watch_service",
]

Sink = Callable[[ServiceEvent], None]
WATCH_SERVICE_NAME = "outlive-watch"
PREFECT_SINK = "prefect_ext.sinks:PrefectEventSink"
_log = logging.getLogger("outlive.events")

_REDELIVERY = {"initial_interval": 0.5, "fast_phase": 0, "backoff": 2, "period": 60}
"""A webhook's retries: 0.5 s, then doubling (to at most a minute); the policy is made when
a sink first retries, not at import (a model instance loads pydantic's plugins)."""

_DOWN = (ServiceState.PENDING_STARTUP, ServiceState.INACTIVE, ServiceState.ERROR)


def transition(
    previous: str | None, service: BaseService, *, after_crash: bool = False
) -> tuple[EventOutcome, str] | None:
    """What the watcher reports, as an outcome and its reason, or None.

    ``previous`` is the last state recorded for the service; ``after_crash`` says that record
    is the watcher's own ``died``. The watcher speaks only about life after ACTIVE: a crash
    (``died``), a restart policy giving up (``gave-up``), and a recovery (``active`` after
    ``died``). Starts, waits and stops report the rest themselves.
    """
    now = service.status.state
    if previous is None or previous == now.value or service.admin_state != ServiceState.ACTIVE:
        return None
    reason = service.status.last_error or ""
    gave_up = now == ServiceState.ERROR and _has_restart_policy(service)
    if previous == ServiceState.ACTIVE.value and now in _DOWN:
        return (
            EventOutcome.GAVE_UP if gave_up else EventOutcome.DIED
        ), reason or f"now {now.value}"
    if after_crash and now == ServiceState.ACTIVE:
        return EventOutcome.ACTIVE, "back after a crash"
    if after_crash and gave_up:
        return EventOutcome.GAVE_UP, reason
    return None


def _has_restart_policy(service: BaseService) -> bool:
    policy = service.restart_policy()
    return policy is not None and policy.mode != "never"


class Watcher:
    """Observe, report transitions once, and forward new log events to the sinks."""

    def __init__(
        self,
        *,
        registry: ServiceRegistry | None = None,
        sinks: Sequence[Sink] = (),
        log: EventLog | None = None,
    ) -> None:
        from plugin_core.registry.store import ServiceRegistry

        self.registry = registry or ServiceRegistry()
        self.sinks = list(sinks)
        self.log = log or EventLog()
        self._last: dict[str, ServiceEvent] = {event.uuid: event for event in self.log.read()}
        self._seen: dict[str, str] = {}  # what this watcher itself observed last
        self._offset = self.log.end()

    def step(self) -> list[ServiceEvent]:
        """One round: observe every service, report what changed, deliver what is new."""
        from plugin_core.lifecycle import find_services, get_service

        self._catch_up()
        for service in find_services(registry=self.registry, refresh=False):
            stored = service.status.state.value
            try:
                service = get_service(service, registry=self.registry, refresh=True)
            except Exception as exc:  # one unreadable service must not stop the watch
                _log.warning("cannot observe %s: %s", service.config.service_name, exc)
                continue
            uuid = str(service.uuid)
            last = self._last.get(uuid)
            crashed = (
                last is not None and last.origin == "watch" and last.outcome == EventOutcome.DIED
            )
            previous = self._seen.get(uuid) or (last.state if last else stored)
            self._seen[uuid] = service.status.state.value
            change = transition(previous, service, after_crash=crashed)
            if change is not None:
                self._last[uuid] = report(
                    ServiceEvent.of(service, change[0], change[1], origin="watch")
                )
        return self._catch_up()

    def run(self, period: float = 2.0, stop: Callable[[], bool] = lambda: False) -> None:
        """Watch until ``stop()`` (or forever); a crash reaches the sinks within one period.

        A timer, not a wait: it never ends on what it sees, so it keeps a steady period
        (the time a step took is taken off the sleep) instead of :mod:`waiting`'s backoff.
        """
        while not stop():
            started = time.monotonic()
            self.step()
            time.sleep(max(0.0, period - (time.monotonic() - started)))

    def _catch_up(self) -> list[ServiceEvent]:
        """Read what was appended since last time: remember its state, hand it to the sinks."""
        events, self._offset = self.log.read_since(self._offset)
        for event in events:
            self._last[event.uuid] = event
            self._seen[event.uuid] = event.state
            for sink in self.sinks:
                try:
                    sink(event)
                except Exception as exc:  # a broken sink must not stop the others
                    _log.warning("sink %r failed on %s: %s", sink, event.describe(), exc)
        return events


class LogSink:
    """Each event as one log line (logger ``outlive.events``; a crash is a warning)."""

    def __call__(self, event: ServiceEvent) -> None:
        bad = event.outcome in (EventOutcome.DIED, EventOutcome.GAVE_UP, EventOutcome.FAILED)
        _log.log(logging.WARNING if bad else logging.INFO, "%s", event.describe())


class WebhookSink:
    """POST each event as JSON (``{"event": "outlive.service.<outcome>", ...fields}``).

    Connection errors, timeouts, 429 and 5xx answers are retried ``retries`` times with a
    doubling delay; other answers are final. A delivery that still fails is logged, never
    raised: the watcher keeps watching.
    """

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 3) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook URL {url!r} must start with http:// or https://")
        self.url, self.timeout, self.retries = url, timeout, retries

    def __call__(self, event: ServiceEvent) -> None:
        body = json.dumps({"event": f"outlive.service.{event.outcome.value}", **event.to_dict()})
        request = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        error: Exception | None = None

        def deliver() -> bool | None:
            """True once delivered, False if refused for good, None to try again."""
            nonlocal error
            try:
                with urllib.request.urlopen(request, timeout=self.timeout):
                    return True
            except urllib.error.HTTPError as exc:
                if exc.code != 429 and exc.code < 500:
                    _log.warning(
                        "webhook %s refused %s: HTTP %s", self.url, event.describe(), exc.code
                    )
                    return False
                error = exc
            except (urllib.error.URLError, OSError) as exc:
                error = exc
            return None

        if wait_until(deliver, timeout=None, attempts=self.retries + 1, policy=ProbePolicy(**_REDELIVERY)) is None:
            _log.warning("webhook %s: gave up delivering %s: %s", self.url, event.describe(), error)

    def __repr__(self) -> str:
        return f"WebhookSink({self.url!r})"


def load_sink(spec: str) -> Sink:
    """A sink from ``module:Name`` (a class taking no arguments, or a callable)."""
    module_name, _, attr = spec.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attr or "sink")
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"Cannot load event sink {spec!r} ({exc}); name it as 'package.module:Name'"
        ) from None
    sink = target() if isinstance(target, type) else target
    if not callable(sink):
        raise ConfigError(f"Event sink {spec!r} is not callable")
    return sink  # type: ignore[no-any-return]


def watch_service(
    args: Sequence[str], *, registry_url: str | None = None, name: str = WATCH_SERVICE_NAME
) -> BaseService:
    """The watcher as an outlive service: ``outlive watch ARGS`` in a detached process that
    restarts on failure, so it keeps watching after every run (start it with start_service)."""
    from plugin_core.backends.command import CommandService, CommandServiceConfig

    command = [sys.executable, "-m", "plugin_core.cli"]
    command += ["--registry", registry_url] if registry_url else []
    command += ["watch", *args]
    config = CommandServiceConfig(
        name=name,
        description="outlive watch: reports services that die after their run",
        command=command,
        restart=RestartPolicy(mode="on-failure", max_restarts=20),
    )
    return CommandService(config=config)
