"""What a Prefect run shows about a service: artifacts in the UI and events for Automations.

Artifacts are snapshots attached to the run that created them; their keys are
fixed per service name, so each start or stop adds a new version under the
same key and the Artifacts page shows one history per service. Events carry
the service uuid as their resource, so an Automation can react to
``outlive.service.died`` or ``outlive.service.failed`` of one service. Which events happen is
the core's word (``plugin_core.ServiceEvent``); :func:`emit_core_event` only translates one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prefect.events import emit_event

if TYPE_CHECKING:
    from plugin_core import ServiceEvent

__all__ = [
    "EVENT_PREFIX",
    "TABLE_FIELDS",
    "artifact_keys",
    "emit_core_event",
    "emit_service_event",
    "publish_service",
    "resource_id",
]

EVENT_PREFIX = "outlive.service"
"""Events are ``outlive.service.<outcome>``: started, reused, restarted, updated, active,
stopped, failed, died, gave-up (the core's vocabulary)."""

TABLE_FIELDS = (
    "name",
    "outcome",
    "uuid",
    "type",
    "state",
    "admin_state",
    "url",
    "healthcheck_url",
    "prediction_url",
    "pid",
    "last_error",
)
"""The rows of the state table, in order; a field the service lacks shows empty."""

_NOT_KEY_CHARS = re.compile(r"[^a-z0-9]+")


def artifact_keys(service_name: str) -> tuple[str, str]:
    """The fixed ``(link key, table key)`` for a service.

    Prefect keys allow only lowercase letters, digits and dashes, so every
    other run of characters in the name becomes one dash.
    """
    slug = _NOT_KEY_CHARS.sub("-", service_name.lower()).strip("-") or "service"
    return f"outlive-{slug}-url", f"outlive-{slug}-state"


def resource_id(info: Mapping[str, Any]) -> str:
    """The event resource id of a service: ``outlive.service.<uuid>``."""
    return f"{EVENT_PREFIX}.{info['uuid']}"


def emit_service_event(what: str, info: Mapping[str, Any], **payload: Any) -> None:
    """Emit ``outlive.service.<what>`` for the service described by ``info``.

    Prefect attaches the current flow and task run as related resources. The
    result of ``emit_event`` is ignored: it is None whenever events are off,
    and a missing event must never fail the task that started a service.
    """
    emit_event(
        event=f"{EVENT_PREFIX}.{what}",
        resource={
            "prefect.resource.id": resource_id(info),
            "prefect.resource.name": str(info.get("name", "")),
            "outlive.service.type": str(info.get("type", "")),
        },
        payload={
            "state": info.get("state"),
            "url": info.get("url"),
            **payload,
        },
    )


def emit_core_event(event: ServiceEvent, service_type: str = "") -> None:
    """Emit the core's event as ``outlive.service.<outcome>``, with the real state and reason."""
    emit_service_event(
        event.outcome.value,
        {
            "uuid": event.uuid,
            "name": event.name,
            "type": service_type,
            "state": event.state,
            "url": event.url,
        },
        reason=event.reason,
        origin=event.origin,
        at=event.at,
    )


def publish_service(info: Mapping[str, Any], description: str = "") -> None:
    """Create the link artifact (when the service has a URL) and the state table.

    ``_sync=True``: the async tasks run this in a worker thread of an async task run, where
    Prefect's dispatch would otherwise hand back a coroutine that nobody awaits.
    """
    # Here, not at module level: a flow file imports the tasks at parse time, and Prefect's
    # artifacts module (its client models) is needed only once a task publishes.
    from prefect.artifacts import create_link_artifact, create_table_artifact

    name = str(info.get("name", ""))
    link_key, table_key = artifact_keys(name)
    url = info.get("url")
    if url:
        create_link_artifact(
            link=str(url),
            link_text=f"{name} ({info.get('state', '')})",
            key=link_key,
            description=description or f"URL of the outlive service {name!r}",
            _sync=True,
        )
    create_table_artifact(
        table=[_row(field, info.get(field)) for field in TABLE_FIELDS],
        key=table_key,
        description=description or f"State of the outlive service {name!r}",
        _sync=True,
    )


def _row(field: str, value: Any) -> dict[str, str]:
    return {"field": field, "value": "" if value is None else str(value)}
