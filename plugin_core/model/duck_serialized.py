"""``DuckSerialized[X]``: a field of type ``X`` whose value is dumped with the fields of its own class.

A service's ``config``, ``status`` and ``endpoint`` are declared with a base class (as in
ZenML: ``config: ServiceConfig``) and hold a subclass (a ``CommandServiceConfig``). pydantic
dumps such a value by the declared class, dropping the subclass's fields, unless the field
asks for duck-typed serialization. pydantic's ``SerializeAsAny`` does that, but importing it
loads ``pydantic.functional_serializers``, whose dataclasses cost 8.8 M instructions (about
1.6 ms, a tenth of what defining our services costs, ``bench/bench_import.py``) on every
import of the services. This marker does the same through pydantic's public schema hook:
the field validates as ``X`` and serializes as whatever it holds, the exact core schema
``SerializeAsAny`` gives (``tests/core/test_duck_serialized.py`` compares them). Users'
models may go on using ``SerializeAsAny``; the two mix freely.
"""

from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

Declared = TypeVar("Declared")

if TYPE_CHECKING:  # a type checker reads ``DuckSerialized[X]`` as ``X``, as pydantic's own
    DuckSerialized = Annotated[Declared, ...]
else:

    class DuckSerialized:
        """``Annotated[X, DuckSerialized()]``, spelled ``DuckSerialized[X]``."""

        __slots__ = ()

        def __repr__(self) -> str:
            return "DuckSerialized()"

        def __class_getitem__(cls, declared: Any) -> Any:
            return Annotated[declared, cls()]

        def __get_pydantic_core_schema__(
            self, source: Any, handler: GetCoreSchemaHandler
        ) -> core_schema.CoreSchema:
            schema = handler(source)
            inner = schema
            while inner["type"] == "definitions":  # the value's own schema, not its wrapper
                inner = inner["schema"]
            inner["serialization"] = core_schema.simple_ser_schema("any")
            return schema
