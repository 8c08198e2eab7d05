"""``ServiceActiveTrigger``: waits in the triggerer until a service is ACTIVE.

It runs the core's async waiting routine (quick first probes, backing off to the policy's
cap), so a deferred ``ServiceActiveSensor`` holds no worker slot. Its settings are plain
data, because the triggerer rebuilds it in another process from ``serialize()``.

Events: ``{"status": "active"|"error"|"timeout"|"not_found", "service": <the core's ServiceSnapshot as a
dict>, "message": str, "log_tail": str}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_ext.hooks import OutliveRegistryHook

__all__ = ["ServiceActiveTrigger"]


class ServiceActiveTrigger(BaseTrigger):
    """Fire once: when the service is ACTIVE, has failed, or ``timeout`` seconds have passed.

    :param service: name or uuid of the service.
    :param outlive_conn_id: ``outlive`` connection (``outlive_default`` falls back to the core
        default registry when it is not defined), or None for the core default registry.
    :param timeout: seconds to wait in total.
    :param policy: a ``ProbePolicy`` as a plain dict (``model_dump(mode="json")``), or None.
    :param wait_for_registration: a name nobody registered is "not yet" instead of "not_found".
    """

    def __init__(
        self,
        service: str,
        outlive_conn_id: str | None = "outlive_default",
        timeout: float = 600.0,
        policy: dict[str, Any] | None = None,
        wait_for_registration: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.service = service
        self.outlive_conn_id = outlive_conn_id
        self.timeout = float(timeout)
        self.policy = policy
        self.wait_for_registration = wait_for_registration

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath from the class itself, so a rename or subclass cannot go stale."""
        cls = type(self)
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                "service": self.service,
                "outlive_conn_id": self.outlive_conn_id,
                "timeout": self.timeout,
                "policy": self.policy,
                "wait_for_registration": self.wait_for_registration,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait with the core routine and translate its outcome into one event."""
        yield TriggerEvent(await self._wait())  # type: ignore[no-untyped-call]

    async def _wait(self) -> dict[str, Any]:
        from plugin_core import ProbePolicy, ServiceNotFoundError, await_service_active

        url = await OutliveRegistryHook.aget_registry_url(self.outlive_conn_id)
        try:
            snapshot = await await_service_active(
                self.service,
                registry_url=url,
                timeout=self.timeout,
                policy=ProbePolicy.model_validate(self.policy) if self.policy else None,
                wait_for_registration=self.wait_for_registration,
            )
        except ServiceNotFoundError as exc:
            self.log.info("Service %s: not_found", self.service)
            return {"status": "not_found", "service": None, "message": str(exc), "log_tail": ""}
        if snapshot.is_active:
            status = "active"
        elif snapshot.is_failed:
            status = "error"
        else:
            status = "timeout"
        self.log.info("Service %s: %s (%s)", self.service, status, snapshot.message)
        return {
            "status": status,
            "service": snapshot.to_dict(),
            "message": snapshot.message,
            "log_tail": tail_text(snapshot.log_tail),
        }


def tail_text(log_tail: Any) -> str:
    """Log tails may come as text or as a list of lines; events carry text."""
    if not log_tail:
        return ""
    if isinstance(log_tail, str):
        return log_tail
    return "\n".join(str(line).rstrip("\n") for line in log_tail)
