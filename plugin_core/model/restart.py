"""When a service that stopped on its own is started again."""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

from typing import Annotated, Literal

from annotated_types import Ge, Gt, Le
from pydantic import BaseModel, ConfigDict

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
    max_restarts: Annotated[int | None, Ge(0)] = 5
    backoff_base: Annotated[float, Ge(0)] = 0.5
    backoff_cap: Annotated[float, Ge(0)] = 60.0
    jitter: Annotated[float, Ge(0), Le(1)] = 0.1
    burst_limit: Annotated[int, Ge(1)] = 5
    burst_window: Annotated[float, Gt(0)] = 10.0
    reset_after: Annotated[float, Gt(0)] = 600.0
