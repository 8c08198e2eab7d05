"""When a service that stopped on its own is started again."""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from plugin_core.model.deferred import DeferredSignature


class RestartPolicy(BaseModel):
    """Restart rules applied by the service's supervisor.

    ``mode``: ``never``, ``on-failure`` (a non-zero exit or a signal) or ``always``.
    The delay before restart ``n`` is ``backoff_base * 2**n`` capped at ``backoff_cap``,
    with +/- ``jitter`` (a fraction) so that many services do not restart in step.
    More than ``burst_limit`` restarts within ``burst_window`` seconds, or more than
    ``max_restarts`` in all, ends in ERROR with the reason. A run longer than
    ``reset_after`` seconds resets the count.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)
    __signature__ = DeferredSignature()

    mode: Literal["never", "on-failure", "always"] = "never"
    max_restarts: int | None = Field(default=5, ge=0)
    backoff_base: float = Field(default=0.5, ge=0)
    backoff_cap: float = Field(default=60.0, ge=0)
    jitter: float = Field(default=0.1, ge=0, le=1)
    burst_limit: int = Field(default=5, ge=1)
    burst_window: float = Field(default=10.0, gt=0)
    reset_after: float = Field(default=600.0, gt=0)
