"""The ``__signature__`` of a model whose schema build is deferred (``defer_build=True``).

Our models defer their pydantic schema build to first use, so that importing a service class
costs no schema build (see ``bench/bench_import.py``). pydantic sets a model's constructor
signature only when it builds the schema, so until then ``inspect.signature(Model)`` would say
``(**data)``: :class:`DeferredSignature` builds the model on that first look instead, and
signatures read the same as with eager builds.

For the same reason most modules that define outlive's models (``plugin_core.model``,
``plugin_core.service``, the local and command backends) do without ``from __future__ import
annotations``: pydantic evaluates every field annotation when the class is defined, and a string
annotation is compiled first (a quarter of the cost of defining a model, measured). Names imported for
type checkers only are quoted there.
"""

from __future__ import annotations

import inspect
from typing import Any


class DeferredSignature:
    """A class attribute ``__signature__`` that completes the model when first read."""

    def __get__(self, instance: object, owner: type[Any]) -> inspect.Signature:
        if instance is not None:  # as pydantic: instances take theirs from ``__call__``
            raise AttributeError("__signature__")
        owner.model_rebuild(raise_errors=False)
        signature = owner.__dict__.get("__signature__")
        if signature is None or signature is self:  # not buildable yet (unresolved names)
            return inspect.Signature([inspect.Parameter("data", inspect.Parameter.VAR_KEYWORD)])
        return signature.__get__(None, owner)  # type: ignore[no-any-return]
