"""The states a service can be in, with ZenML's names and values."""

from __future__ import annotations

from enum import Enum


class ServiceState(str, Enum):
    """Observed (``status.state``) or wanted (``admin_state``) state of a service."""

    INACTIVE = "inactive"
    PENDING_STARTUP = "pending_startup"
    ACTIVE = "active"
    PENDING_SHUTDOWN = "pending_shutdown"
    ERROR = "error"
    SCALED_TO_ZERO = "scaled_to_zero"

    def __str__(self) -> str:
        return self.value
