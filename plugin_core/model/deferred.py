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
from collections.abc import Iterator
from typing import Any, get_args

from pydantic import BaseModel


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


def nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The model classes a field annotation holds: itself, or inside ``X | None``,
    ``list[X]``, ``Annotated[X, ...]`` (``DuckSerialized[X]``) and the like."""
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            yield annotation
        return
    for argument in get_args(annotation):
        yield from nested_models(argument)


_BUILDING: set[type[BaseModel]] = set()


def build_nested_first(model: type[BaseModel]) -> None:
    """Complete the deferred models ``model``'s fields hold before ``model`` itself.

    pydantic reuses a nested model's schema when that model is already complete, and
    otherwise generates it again inside every model that holds it; each model then builds its
    own once more on its first direct use (a default factory, ``model_validate``). Built
    inside out instead, a command service's first load generates 104 field schemas, not 227
    (``bench/bench_prefect_import.py``: the core's first use, 34.5 -> 25.5 ms).
    """
    if model.__pydantic_complete__ or model in _BUILDING:
        return
    _BUILDING.add(model)
    try:
        for field in model.__pydantic_fields__.values():
            for nested in nested_models(field.annotation):
                if nested is not model and not nested.__pydantic_complete__:
                    build_nested_first(nested)
                    nested.model_rebuild(raise_errors=False, _parent_namespace_depth=0)
    finally:
        _BUILDING.discard(model)
