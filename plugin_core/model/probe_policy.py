"""How often, how patiently and how forgivingly a service is probed."""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

from typing import Annotated

from annotated_types import Ge, Gt, Le
from pydantic import BaseModel, ConfigDict, model_validator

from plugin_core.model.deferred import DeferredSignature


class ProbePolicy(BaseModel):
    """Probe timing and thresholds, in the spirit of Kubernetes readiness and liveness probes.

    Waiting starts with probes ``initial_interval`` apart during ``fast_phase`` seconds,
    so a service that is up in 50 ms is seen within a few milliseconds, then backs off
    by ``backoff`` up to ``period``, so a model that loads for minutes costs little.
    ``startup_timeout`` is the budget for the first readiness; failures during it do not
    count against ``failure_threshold``, which only judges a service that was ready once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)
    __signature__ = DeferredSignature()

    initial_interval: Annotated[float, Gt(0), Le(60)] = 0.002
    fast_phase: Annotated[float, Ge(0)] = 0.25
    backoff: Annotated[float, Ge(1.0), Le(10.0)] = 1.5
    period: Annotated[float, Gt(0), Le(3600)] = 1.0
    timeout: Annotated[float, Gt(0), Le(600)] = 1.0
    success_threshold: Annotated[int, Ge(1)] = 1
    failure_threshold: Annotated[int, Ge(1)] = 3
    startup_timeout: Annotated[float, Gt(0)] = 300.0

    @model_validator(mode="after")
    def _interval_below_period(self) -> "ProbePolicy":
        if self.initial_interval > self.period:
            raise ValueError(
                f"initial_interval ({self.initial_interval}s) must not exceed period ({self.period}s)"
            )
        return self
