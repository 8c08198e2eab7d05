"""What was last observed about a service: its state, and why it is in it."""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

from typing import Annotated

from annotated_types import Ge

from plugin_core.hosts import HostIdentity
from plugin_core.model.state import ServiceState
from plugin_core.model.typed import BaseTypedModel


class ServiceStatus(BaseTypedModel):
    """Observed state of a service, plus the facts that explain it.

    ``last_error`` is sticky, as in ZenML: it stays until :meth:`clear_error`, so
    a recovered service still tells what went wrong before. ``exit_code`` and the
    probe counters are ours: they let a later process tell a crash from a stop and
    apply the failure threshold of the probe policy. ``owner_host`` and ``launch_id`` say
    which host launched the current run and which launch it is, so a caller on another
    host never judges (or signals) processes it cannot see, and an observation of an
    earlier launch never overwrites a newer one (see :mod:`plugin_core.hosts`).
    """

    state: ServiceState = ServiceState.INACTIVE
    last_state: ServiceState = ServiceState.INACTIVE
    last_error: str = ""
    exit_code: int | None = None
    last_probe: str = ""
    consecutive_failures: Annotated[int, Ge(0)] = 0
    consecutive_successes: Annotated[int, Ge(0)] = 0
    ready_once: bool = False
    owner_host: HostIdentity | None = None
    launch_id: str = ""

    def update_state(self, new_state: ServiceState | None = None, error: str = "") -> None:
        """Move to ``new_state`` (if given), remembering the previous one; record ``error``."""
        from plugin_core.observation import update_state

        update_state(self, new_state, error)

    def clear_error(self) -> None:
        """Forget the sticky error, e.g. when a new start begins."""
        self.last_error = ""
        self.exit_code = None

    def reset_for_launch(self) -> None:
        """Forget what the previous run showed (error, probe counters, readiness) as a new
        launch begins: a new process must prove itself again. Backends whose status keeps
        more facts of a run extend this."""
        self.clear_error()
        self.update_state(ServiceState.PENDING_STARTUP)
        self.consecutive_failures = self.consecutive_successes = 0
        self.ready_once = False
