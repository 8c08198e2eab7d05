"""The one place that knows where Prefect keeps things.

Prefect moves helpers between modules across minor releases; every import of
a Prefect internal that could move lives here, so a new Prefect version means
one file to fix. Imports are of submodules (``prefect.tasks``, not ``from
prefect import task``): the package attribute loads ``prefect.flows`` and the
transaction machinery, which costs about 60 ms that an adapter must not add.
The task machinery (``prefect.tasks``, ``prefect.cache_policies``: ~5 ms) loads on
first use, since the blocks need only this module's dispatch key.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect.exceptions import MissingContextError
from prefect.logging.loggers import get_logger, get_run_logger

from plugin_core import lazy_exports

__all__ = ["SlugDispatchKey", "run_logger"]

with lazy_exports(globals()):
    from prefect.cache_policies import NO_CACHE as NO_CACHE
    from prefect.tasks import task as task

_FALLBACK_LOGGER = "prefect.outlive"


class SlugDispatchKey:
    """Registers a ``Block`` subclass under its block type slug without building its schema.

    Prefect registers every Block subclass when the class is created, under
    ``block_schema_to_key(cls._to_block_schema())``: the block type's slug, read from a
    block schema that it builds whole (JSON schema, checksum) to get it. That is ~2.5 ms per
    block, paid by every flow, server and worker importing ``prefect_ext``. The key is the
    same; the schema is still built when a block is saved or registered. Put it first in
    a block's bases, before ``Block``.
    """

    @classmethod
    def __dispatch_key__(cls) -> str:
        slug: str = cls.get_block_type_slug()  # type: ignore[attr-defined]
        return slug


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
