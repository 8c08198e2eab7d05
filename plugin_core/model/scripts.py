"""Classes defined in a script run as ``__main__``: named by the script's path, loaded by it.

A class defined in a script run as ``__main__`` has no import path, so its stored ``type``
is ``"/abs/path/script.py:QualName"``. Another process (the daemon, the CLI) loads that
script the way ``multiprocessing``'s spawn does: by path, as module ``__mp_main__``, so its
``if __name__ == "__main__":`` block does not run.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import threading
from types import ModuleType
from typing import Any

from plugin_core.errors import UnknownServiceTypeError

# Modules that are scripts run by path, not imported by name: a class's identity there is its
# file. ``__mp_main__`` is the name multiprocessing (and our loader) gives a re-loaded script.
_SCRIPT_MODULES: set[str] = {"__main__", "__mp_main__"}
_SCRIPTS: dict[str, ModuleType] = {}
_LOADING = threading.RLock()  # one load per script, even when threads ask at once


class _Reloading(threading.local):
    scripts: list[str]

    def __init__(self) -> None:
        self.scripts = []


_RELOADING = _Reloading()  # scripts whose top level this thread is running again


def script_path(cls: type) -> str | None:
    """The absolute path of the script that defines ``cls``, if it was defined in one run as
    ``__main__`` (or re-loaded from one); None for classes of importable modules, and for
    ``__main__`` without a file (``python -c``, a REPL, a notebook)."""
    if cls.__module__ not in _SCRIPT_MODULES:
        return None
    file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return os.path.abspath(file) if file else None


def reloadable_from_script(cls: type) -> bool:
    """True if ``cls`` comes from a script file and sits under its qualname at the script's top
    level, so that another process loading the script by path finds it."""
    if script_path(cls) is None:
        return False
    obj: Any = sys.modules.get(cls.__module__)
    for attr in cls.__qualname__.split("."):
        obj = getattr(obj, attr, None)
    return obj is cls


def is_script_type(type_name: str) -> bool:
    """True for a ``type`` naming a class by its script's path (``/abs/script.py:QualName``)."""
    path, sep, _ = type_name.rpartition(":")
    return bool(sep) and os.path.isabs(path)


def class_from_script(type_name: str) -> type:
    """The class a script type names, loading its script if this process has not run it."""
    path, _, qualname = type_name.rpartition(":")
    obj: Any = load_script(path, type_name)
    try:
        for attr in qualname.split("."):
            obj = getattr(obj, attr)
    except AttributeError:
        raise UnknownServiceTypeError(
            type_name, f"the script {path} defines no {qualname!r} at its top level"
        ) from None
    if not isinstance(obj, type):
        raise UnknownServiceTypeError(type_name, "it is not an outlive model class")
    return obj


def load_script(path: str, type_name: str = "") -> ModuleType:
    """The module of the script at ``path``: the running ``__main__`` if it is that script,
    else the script loaded once by path as ``__mp_main__`` (its ``__main__`` block skipped),
    with its directory first on ``sys.path`` as when it was run."""
    for name in ("__main__", "__mp_main__"):
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if module is not None and file and os.path.abspath(file) == path:
            return module
    with _LOADING:
        module = _SCRIPTS.get(path)  # also while its top level runs, as for a circular import
        return module if module is not None else _exec_script(path, type_name)


def _exec_script(path: str, type_name: str) -> ModuleType:
    if not os.path.isfile(path):
        raise UnknownServiceTypeError(
            type_name or path, f"the script {path} that defined it no longer exists"
        )
    name = "__mp_main__" if "__mp_main__" not in sys.modules else f"__outlive_script_{len(_SCRIPTS)}__"
    _SCRIPT_MODULES.add(name)
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = _SCRIPTS[path] = module
    _RELOADING.scripts.append(path)
    try:
        loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        del sys.modules[name], _SCRIPTS[path]
        raise UnknownServiceTypeError(
            type_name or path, f"loading the script {path} failed: {exc!r}"
        ) from exc
    finally:
        _RELOADING.scripts.remove(path)
    return module


def reloading_script() -> bool:
    """True while a script's top level runs again only to define its classes. A script whose
    ``service.start()`` is not under ``if __name__ == "__main__":`` (as in ZenML's examples)
    must not start its service again from inside the daemon: lifecycle calls are skipped then."""
    return bool(_RELOADING.scripts)
