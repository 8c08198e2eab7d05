"""One list of public names per package, imported on first use (PEP 562).

A package's ``__init__`` writes its public names once, as plain imports inside
``with lazy_exports(globals()):``. Type checkers and IDEs read those imports as
they are (``from m import Name as Name`` is an explicit re-export under
``mypy --strict``); at run time the block imports nothing: each ``from m import
Name`` is only recorded, and on leaving the block the package gets

* ``__getattr__``: the first ``package.Name`` imports ``m`` and caches ``Name``;
* ``__dir__``: the loaded names and the promised ones;
* ``__all__``: the recorded names, after any the package had already listed.

So ``import plugin_core`` costs no more than this module, DAG parsing and CLI
start-up never import SQLAlchemy or FastAPI, and a new public name is one line.

Only ``from`` imports whose caller is the package itself are recorded; every
other import (another thread's, the modules a first access loads) goes through.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Mapping, Sequence
from types import ModuleType, TracebackType
from typing import Any


class _Promise:
    """Stands in for one recorded name until the block ends."""

    __slots__ = ("attribute", "module")

    def __init__(self, module: str, attribute: str) -> None:
        self.module, self.attribute = module, attribute


class _Module(ModuleType):
    """What a recorded ``from module import ...`` gets instead of the module.

    ``__getattribute__``, not ``__getattr__``: a lookup that misses first raises an
    AttributeError inside, which made the block of ~100 names cost 0.2 ms instead of 0.05.
    """

    def __getattribute__(self, attribute: str) -> _Promise:
        return _Promise(ModuleType.__getattribute__(self, "__name__"), attribute)


class lazy_exports:
    """Record the ``from m import Name`` statements of the block as the package's public names."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self._namespace = namespace
        self._real_import = builtins.__import__

    def __enter__(self) -> None:
        builtins.__import__ = self._record

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        builtins.__import__ = self._real_import
        if kind is None:
            self._install()

    def _record(
        self,
        name: str,
        globals: Mapping[str, object] | None = None,
        locals: Mapping[str, object] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> ModuleType:
        if globals is not self._namespace:
            return self._real_import(name, globals, locals, fromlist or (), level)
        if not fromlist or level or "*" in fromlist:
            package = self._namespace.get("__name__")
            raise ImportError(
                f"lazy_exports in {package}: write 'from package.module import Name as Name', "
                f"not an import of {name!r}"
            )
        return _Module(name)

    def _install(self) -> None:
        namespace = self._namespace
        package = namespace["__name__"]
        table = {
            name: (value.module, value.attribute)
            for name, value in namespace.items()
            if isinstance(value, _Promise)
        }
        for name in table:
            del namespace[name]

        def __getattr__(name: str) -> Any:
            try:
                module, attribute = table[name]
            except KeyError:
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
            value = getattr(importlib.import_module(module), attribute)
            namespace[name] = value
            return value

        def __dir__() -> list[str]:
            return sorted(set(namespace) | set(table))

        namespace["__all__"] = [*namespace.get("__all__", ()), *table]
        namespace["__getattr__"] = __getattr__
        namespace["__dir__"] = __dir__
