"""What happened to a service, in one vocabulary for every adapter, and where it is recorded.

The lifecycle reports what it *did* (``started``, ``reused``, ``restarted``, ``updated``,
``stopped``), what it then *saw* (``active``, ``failed`` with the real state), and the watcher
reports what happened *after the run* (``died``: a crash after ACTIVE, ``gave-up``: the
restart policy stopped trying, ``active`` again after a restart). Each transition is reported
once. Adapters translate these events (Prefect events, Airflow logs and XCom, CLI lines); they
never decide which one happened.

Every event is appended to ``$OUTLIVE_HOME/events.jsonl`` (one JSON object per line, written
with a single ``O_APPEND`` write, so concurrent writers never interleave a line), which
``outlive events`` reads and follows, and a watcher forwards to its sinks.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugin_core.paths import outlive_home

if TYPE_CHECKING:
    from plugin_core.service import BaseService

__all__ = [
    "EVENTS_FILE",
    "EventLog",
    "EventOutcome",
    "EventRecorder",
    "ServiceEvent",
    "report",
]

EVENTS_FILE = "events.jsonl"
_ROTATE_BYTES = 20 * 1024 * 1024


class EventOutcome(str, Enum):
    """The names of everything that can happen to a service."""

    STARTED = "started"
    REUSED = "reused"
    RESTARTED = "restarted"
    UPDATED = "updated"
    ACTIVE = "active"
    STOPPED = "stopped"
    FAILED = "failed"
    DIED = "died"
    GAVE_UP = "gave-up"


@dataclass(frozen=True)
class ServiceEvent:
    """One thing that happened, as plain data: which service, what, the state seen, why.

    ``origin`` is ``lifecycle`` (a start, stop or wait reported it) or ``watch`` (a watcher saw
    it after the run); ``at`` is wall-clock UTC, for display and ordering across processes.
    """

    outcome: EventOutcome
    name: str
    uuid: str
    state: str
    reason: str = ""
    url: str | None = None
    origin: str = "lifecycle"
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    @classmethod
    def of(
        cls,
        service: BaseService,
        outcome: EventOutcome,
        reason: str = "",
        origin: str = "lifecycle",
    ) -> ServiceEvent:
        """The event for ``service`` as it is now (its observed state and address)."""
        return cls(
            outcome=outcome,
            name=service.config.service_name,
            uuid=str(service.uuid),
            state=service.status.state.value,
            reason=reason,
            url=service.endpoint.status.uri if service.endpoint is not None else None,
            origin=origin,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceEvent:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**{**known, "outcome": EventOutcome(data["outcome"])})

    def describe(self) -> str:
        """One line for logs and the CLI: ``web reused (active) at http://...``."""
        text = f"{self.name} {self.outcome.value} ({self.state})"
        if self.url:
            text += f" at {self.url}"
        return f"{text}: {self.reason}" if self.reason else text


EventCallback = Callable[[ServiceEvent], None]


class EventLog:
    """The append-only events file of one ``OUTLIVE_HOME`` (rotated once at 20 MB)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or outlive_home() / EVENTS_FILE

    def append(self, event: ServiceEvent) -> None:
        """Add one line; a single ``write`` on an ``O_APPEND`` descriptor, so lines never mix."""
        line = (json.dumps(event.to_dict(), separators=(",", ":")) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._rotate_if_large()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read(self, name: str | None = None) -> list[ServiceEvent]:
        """Every recorded event (of the service ``name`` or uuid), oldest first."""
        return [event for event in self._parse(self._lines()) if _matches(event, name)]

    def last(self, uuid: str, chunk: int = 64 * 1024) -> ServiceEvent | None:
        """The most recent event of the service ``uuid``, reading the file from its end."""
        needle, end, carry = f'"uuid":"{uuid}"'.encode(), self._size(), b""
        while end > 0:
            start = max(0, end - chunk)
            block = self._read_from(start)[: end - start] + carry
            lines = block.split(b"\n")
            carry = lines.pop(0) if start > 0 else b""  # maybe cut: finish it next round
            for line in reversed(lines):
                if needle in line:
                    for event in self._parse([line.decode("utf-8", "replace")]):
                        return event
            end = start
        return None

    def end(self) -> int:
        """The current end of the file: where :meth:`read_since` picks up new events."""
        return self._size()

    def read_since(self, offset: int) -> tuple[list[ServiceEvent], int]:
        """Complete lines appended after ``offset``, and the offset after them.

        A rotation (the file is shorter than ``offset``) starts over on the new file.
        """
        if self._size() < offset:
            offset = 0
        chunk = self._read_from(offset)
        complete = chunk[: chunk.rfind(b"\n") + 1]
        lines = complete.decode("utf-8", "replace").splitlines()
        return list(self._parse(lines)), offset + len(complete)

    def follow(
        self,
        name: str | None = None,
        *,
        from_start: bool = False,
        poll: float = 0.2,
        stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[ServiceEvent]:
        """Yield events as they are appended (after the existing ones if ``from_start``).

        A stream, not a wait: it reads again every ``poll`` seconds until ``stop()``.
        """
        offset = 0 if from_start else self.end()
        while not stop():
            events, offset = self.read_since(offset)
            yield from (event for event in events if _matches(event, name))
            if not events:
                time.sleep(poll)

    def _rotate_if_large(self) -> None:
        if self._size() > _ROTATE_BYTES:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _read_from(self, offset: int) -> bytes:
        try:
            with self.path.open("rb") as handle:
                handle.seek(offset)
                return handle.read()
        except FileNotFoundError:
            return b""

    def _lines(self) -> list[str]:
        return self._read_from(0).decode("utf-8", "replace").splitlines()

    @staticmethod
    def _parse(lines: Any) -> Iterator[ServiceEvent]:
        for line in lines:
            try:
                yield ServiceEvent.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line is skipped, never fatal


def _matches(event: ServiceEvent, name: str | None) -> bool:
    return name is None or name in (event.name, event.uuid)


def report(event: ServiceEvent, on_event: EventCallback | None = None) -> ServiceEvent:
    """Record ``event`` and hand it to the caller's callback.

    Recording is best effort: a full disk must not fail the start that already happened.
    """
    with contextlib.suppress(OSError):
        EventLog().append(event)
    if on_event is not None:
        on_event(event)
    return event


class EventRecorder:
    """An ``on_event`` callback that keeps what was reported, for adapters and tests."""

    def __init__(self) -> None:
        self.events: list[ServiceEvent] = []

    def __call__(self, event: ServiceEvent) -> None:
        self.events.append(event)

    @property
    def outcomes(self) -> list[str]:
        return [event.outcome.value for event in self.events]

    @property
    def first(self) -> str | None:
        """What the call did (started, reused, restarted, updated, stopped), if anything."""
        return self.events[0].outcome.value if self.events else None
