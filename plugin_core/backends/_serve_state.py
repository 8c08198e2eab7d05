"""Serve's view of one application, turned into our :class:`ServiceState` and a message.

The rule, stated once:

* ``DEPLOYING`` / ``NOT_STARTED``: PENDING_STARTUP (an update in place also passes here while
  the old replicas keep serving);
* ``RUNNING``: ACTIVE, unless a deployment that should have replicas has none running (a killed
  single replica, before Serve replaces it): ERROR, because requests hang rather than fail;
  fewer running replicas than the target is still ACTIVE, with the count in the message;
* ``UNHEALTHY``: ERROR with Serve's message (its health checks fail; Serve keeps replacing
  replicas, but requests hang, so our probe alone could wait forever);
* ``DEPLOY_FAILED``: ERROR with the last line of Serve's traceback first (the PUT answered 200);
* ``DELETING``: PENDING_SHUTDOWN when we stop it, ERROR when someone else removes it;
* absent: INACTIVE when stopped; ERROR when it should run (removed outside outlive, or the
  head restarted: Serve's apps do not survive that, and a new start redeploys).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from plugin_core.model.state import ServiceState

MAX_MESSAGE = 4000


@dataclass(frozen=True)
class ServeView:
    """What Serve says about one application, and our verdict."""

    state: ServiceState
    message: str
    serve_status: str | None = None
    serve_message: str = ""
    replica_states: dict[str, int] = field(default_factory=dict)
    replica_nodes: list[str] = field(default_factory=list)
    target_replicas: int = 0
    dead_replicas: int = 0


def judge(app: dict[str, Any] | None, *, name: str, address: str, stopping: bool) -> ServeView:
    """Our state for ``app`` (Serve's status entry, None when absent) of service ``name``."""
    if app is None:
        if stopping:
            return ServeView(ServiceState.INACTIVE, "")
        return ServeView(ServiceState.ERROR, (
            f"application {name!r} is not on the Ray cluster at {address}: it was removed "
            "outside outlive, or the cluster's head restarted (Serve's apps do not survive "
            "that); start the service again to redeploy it"
        ))
    status = str(app.get("status") or "")
    serve_message = _all_messages(app)
    facts = _replica_facts(app)
    view = _verdict(status, app, name, stopping, facts)
    return ServeView(view[0], view[1], status, serve_message[-MAX_MESSAGE:], **facts)


def _verdict(
    status: str, app: dict[str, Any], name: str, stopping: bool, facts: dict[str, Any]
) -> tuple[ServiceState, str]:
    summary = _replica_summary(facts)
    if status == "RUNNING":
        empty = _deployments_without_replicas(app)
        if empty:
            return ServiceState.ERROR, (
                f"Serve application {name!r} is RUNNING but deployment(s) "
                f"{', '.join(empty)} have no running replica ({summary}); Serve is replacing "
                "them, and requests hang until it has"
            )
        return ServiceState.ACTIVE, f"Serve: RUNNING ({summary})"
    if status in ("DEPLOYING", "NOT_STARTED", ""):
        return ServiceState.PENDING_STARTUP, f"Serve: {status or 'NOT_STARTED'} ({summary})"
    if status == "DEPLOY_FAILED":
        return ServiceState.ERROR, (
            f"Serve could not deploy {name!r} (DEPLOY_FAILED): {_headline(app)}"
        )
    if status == "UNHEALTHY":
        return ServiceState.ERROR, f"Serve reports {name!r} UNHEALTHY: {_headline(app)} ({summary})"
    if status == "DELETING":
        if stopping:
            return ServiceState.PENDING_SHUTDOWN, "Serve: DELETING"
        return ServiceState.ERROR, f"Serve is deleting {name!r}, but outlive did not stop it"
    return ServiceState.ERROR, f"Serve reports an unknown status {status!r} for {name!r}"


def _deployments(app: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deployments: dict[str, dict[str, Any]] = app.get("deployments") or {}
    return deployments


def _replica_facts(app: dict[str, Any]) -> dict[str, Any]:
    states: Counter[str] = Counter()
    nodes: list[str] = []
    target = dead = 0
    for deployment in _deployments(app).values():
        target += int(deployment.get("target_num_replicas") or 0)
        dead += len(deployment.get("recent_dead_replicas") or [])
        for replica in deployment.get("replicas") or []:
            states[str(replica.get("state"))] += 1
            if replica.get("state") == "RUNNING" and replica.get("node_ip"):
                nodes.append(str(replica["node_ip"]))
    return {"replica_states": dict(states), "replica_nodes": sorted(nodes),
            "target_replicas": target, "dead_replicas": dead}


def _replica_summary(facts: dict[str, Any]) -> str:
    states: dict[str, int] = facts["replica_states"]
    running = states.get("RUNNING", 0)
    others = ", ".join(f"{count} {state}" for state, count in sorted(states.items())
                       if state != "RUNNING")
    text = f"{running}/{facts['target_replicas']} replicas RUNNING"
    if others:
        text += f", {others}"
    if facts["dead_replicas"]:
        text += f"; {facts['dead_replicas']} died recently"
    return text


def _deployments_without_replicas(app: dict[str, Any]) -> list[str]:
    empty = []
    for name, deployment in _deployments(app).items():
        wanted = int(deployment.get("target_num_replicas") or 0)
        running = [r for r in deployment.get("replicas") or [] if r.get("state") == "RUNNING"]
        if wanted > 0 and not running:
            empty.append(name)
    return sorted(empty)


def _all_messages(app: dict[str, Any]) -> str:
    parts = [str(app.get("message") or "").strip()]
    for name, deployment in sorted(_deployments(app).items()):
        message = str(deployment.get("message") or "").strip()
        if message:
            parts.append(f"deployment {name} ({deployment.get('status')}): {message}")
    return "\n".join(part for part in parts if part)


def _headline(app: dict[str, Any]) -> str:
    """The line of Serve's message that says what went wrong: a traceback's last line."""
    messages = _all_messages(app)
    lines = [line.strip() for line in messages.splitlines() if line.strip()]
    if not lines:
        return "Serve gave no message"
    for line in reversed(lines):
        if not line.startswith(("File ", "^", "~")):
            return line[:500]
    return lines[-1][:500]
