"""The one place that knows where Prefect keeps things.

Prefect moves helpers between modules across minor releases; every import of
a Prefect internal that could move lives here, so a new Prefect version means
one file to fix. Imports are of submodules (``prefect.tasks``, not ``from
prefect import task``): the package attribute loads ``prefect.flows`` and the
transaction machinery, which costs about 60 ms that an adapter must not add.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.logging.loggers import get_logger, get_run_logger
from prefect.tasks import task

__all__ = ["NO_CACHE", "run_logger", "task"]

_FALLBACK_LOGGER = "prefect.outlive"


def run_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    """The current run's logger, or a plain Prefect logger outside a run.

    Blocks and helpers are also called from scripts and tests with no flow
    run; they should log there too instead of raising ``MissingContextError``
    (the same fallback prefect-docker uses).
    """
    try:
        return get_run_logger()
    except MissingContextError:
        return get_logger(_FALLBACK_LOGGER)
