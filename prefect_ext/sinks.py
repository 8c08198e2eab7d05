"""``PrefectEventSink``: what a watcher sees after the run, as Prefect events.

``outlive watch --prefect`` (or ``--service --prefect``, to keep it running) forwards the
watcher's own events (``died``, ``gave-up``, ``active`` after a crash) as
``outlive.service.<outcome>`` on resource ``outlive.service.<uuid>``, so an Automation can
restart the service or page someone. Events of starts, stops and waits are emitted by the
tasks themselves, inside their run; the sink skips them so nothing arrives twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_ext.artifacts import emit_core_event

if TYPE_CHECKING:
    from plugin_core import ServiceEvent

__all__ = ["PrefectEventSink"]


class PrefectEventSink:
    """Emit watcher events to the Prefect API the process is configured for."""

    def __call__(self, event: ServiceEvent) -> None:
        if event.origin == "watch":
            emit_core_event(event)

    def __repr__(self) -> str:
        from prefect.settings import PREFECT_API_URL

        return f"PrefectEventSink({PREFECT_API_URL.value() or 'ephemeral API'})"
