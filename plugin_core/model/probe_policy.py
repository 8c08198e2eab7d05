"""How often, how patiently and how forgivingly a service is probed."""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

from pydantic import BaseModel, ConfigDict, Field, model_validator

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

    initial_interval: float = Field(default=0.002, gt=0, le=60)
    fast_phase: float = Field(default=0.25, ge=0)
    backoff: float = Field(default=1.5, ge=1.0, le=10.0)
    period: float = Field(default=1.0, gt=0, le=3600)
    timeout: float = Field(default=1.0, gt=0, le=600)
    success_threshold: int = Field(default=1, ge=1)
    failure_threshold: int = Field(default=3, ge=1)
    startup_timeout: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _interval_below_period(self) -> "ProbePolicy":
        if self.initial_interval > self.period:
            raise ValueError(
                f"initial_interval ({self.initial_interval}s) must not exceed period ({self.period}s)"
            )
        return self
