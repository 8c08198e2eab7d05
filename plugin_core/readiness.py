"""Waiting until a registered service is ACTIVE: one rule for every caller.

:class:`ActiveWatch` is the one "wait until ACTIVE": ``start_service``, ``wait_for_service``
(the CLI's ``outlive wait``, Prefect's task), ``check_service_once`` (an Airflow sensor's poke)
and ``await_service_active`` (the Airflow trigger) all look through it, so they agree:

* the registry record's stamp (uuid and version) is re-read before every verdict and at
  least every :data:`STAMP_PERIOD` seconds in between, and the record reloaded when someone
  else changed it, so a restart, stop or replacement elsewhere is seen within that period and
  never judged on a stale copy; an unchanged record keeps this waiter's own probe counts.
  (Not at every look: a start's first looks come 2 ms apart, and a registry read each time
  cost the starter more CPU than the rest of its wait, on the cores the service starts on);
* ACTIVE ends the wait, ERROR ends it at once (nothing more can come of waiting);
* a name nobody registered raises :class:`~plugin_core.errors.ServiceNotFoundError` at the
  first look, unless the caller opts in with ``wait_for_registration=True`` (a sensor that may
  run before the task that starts the service): then it is "not yet" until it appears;
* a record deleted while waiting is "not found" by the same rule.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from plugin_core.errors import ServiceNotFoundError
from plugin_core.health import observe
from plugin_core.model.state import ServiceState
from plugin_core.records import save_record

if TYPE_CHECKING:
    from plugin_core.registry.store import ServiceRegistry
    from plugin_core.service import BaseService

STAMP_PERIOD = 0.05


class ActiveWatch:
    """Looks at one service, by name, uuid or object, until it is ACTIVE or has failed.

    ``launched=True`` is for the caller that has just launched it (``start_service``): then a
    service observed INACTIVE has ended before it became ACTIVE, which also ends the wait.
    """

    def __init__(
        self,
        ref: BaseService | str,
        registry: ServiceRegistry,
        *,
        wait_for_registration: bool = False,
        launched: bool = False,
    ) -> None:
        from plugin_core.service import BaseService

        self.registry = registry
        self.wait_for_registration = wait_for_registration
        self.launched = launched
        self.service: BaseService | None = ref if isinstance(ref, BaseService) else None
        self.key = str(ref.uuid) if isinstance(ref, BaseService) else ref
        # An object nobody saved (a test's, a blocking run's) is watched as it is.
        self.unregistered_object = self.service is not None and self.service.registry_version is None
        self._stamped_at = float("-inf")
        self.recorded = False  # the last look wrote its final state to the registry

    @property
    def name(self) -> str:
        """The service's name once it is known, else what the caller asked for."""
        return self.service.config.service_name if self.service is not None else self.key

    def look(self, probe_timeout: float | None = None, *, record: bool = False) -> ServiceState | None:
        """One observation: the final state (ACTIVE, ERROR; INACTIVE when ``launched``), or
        None for "not yet". Raises ServiceNotFoundError by the module's rule.

        With ``record``, a final state is also written (an observation's compare-and-swap,
        :func:`~plugin_core.records.save_record`) and :attr:`recorded` says whether it was: a
        write that lands proves the copy was still the current launch, so the verdict needs no
        second read of the stamp (on a start's path, right after the service answered)."""
        self.recorded = False
        recent = time.monotonic() - self._stamped_at < STAMP_PERIOD
        service = self.service if recent and self.service is not None else self.refresh()
        if service is None:
            return None
        state = observe(service, probe_timeout=probe_timeout)
        if not self._final(state):
            return None
        if record and save_record(service, self.registry, observation=True):
            self.recorded = True
            return state
        if recent and self.refresh() is not service:
            return None  # changed meanwhile: the next look judges the new record
        return state

    def _final(self, state: ServiceState) -> bool:
        return state in (ServiceState.ACTIVE, ServiceState.ERROR) or (
            self.launched and state == ServiceState.INACTIVE
        )

    def refresh(self) -> BaseService | None:
        """The freshest copy of the service: ours while the record is unchanged, else reloaded
        (None while waiting for a registration). Raises ServiceNotFoundError by the rule."""
        if self.unregistered_object:
            return self.service
        self._stamped_at = time.monotonic()
        stamp = self.registry.stamp(self.key)
        if stamp is None:
            if not self.wait_for_registration:
                raise ServiceNotFoundError(self.key)
            self.service = None
            return None
        held = self.service
        if held is None or (str(held.uuid), held.registry_version) != stamp:
            self.service = self.registry.get(stamp[0])
        return self.service
