"""Can another process load this service class back? Asked before a launch, not after.

A daemon or a container loads its service again from the stored ``type`` (an import path, or
a script's path): a class defined inside a function, or in ``__main__`` with no script file
to load again, cannot be found there, and the launch would fail out of sight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugin_core.errors import UnknownServiceTypeError
from plugin_core.model.typed import reloadable_from_script

if TYPE_CHECKING:
    from plugin_core.service import BaseService


def require_loadable(service: BaseService, loader: str) -> None:
    """Raise :class:`UnknownServiceTypeError` when ``loader`` ("the daemon", "the container")
    could not load ``type(service)`` back by its stored name."""
    cls = type(service)
    if "<locals>" in cls.__qualname__:
        raise UnknownServiceTypeError(
            service.type, f"it is defined inside a function, so {loader} cannot load it by name"
        )
    if cls.__module__ in ("__main__", "__mp_main__") and not reloadable_from_script(cls):
        raise UnknownServiceTypeError(
            service.type,
            "it was defined in __main__ but not at the top level of a script file "
            f"{loader} can load again",
        )


def module_root(cls: type) -> str | None:
    """The ``sys.path`` entry the module of ``cls`` was imported from, so that another
    process (a daemon, a container with the code mounted) finds it too; None for outlive's
    own classes and for modules without a file."""
    import sys
    from pathlib import Path

    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if not file or cls.__module__.startswith("plugin_core."):
        return None
    root = Path(file).resolve().parent
    for _ in range(cls.__module__.count(".")):
        root = root.parent
    return str(root)
