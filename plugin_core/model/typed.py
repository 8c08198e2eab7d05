"""Models that remember their own class, so JSON loads back into the right subclass.

Every persisted piece (service, config, status, endpoint, monitor) carries a
``type`` field holding ``"<module>.<QualName>"`` of its class. Loading resolves
that name through, in order: classes already defined in this process, the
``outlive.services`` entry point group, then an import of the dotted path. A
name that resolves to nothing raises :class:`UnknownServiceTypeError` instead
of failing later inside a daemon.

A class defined in a script run as ``__main__`` has no import path, so its
``type`` is ``"/abs/path/script.py:QualName"`` instead. Another process (the
daemon, the CLI) loads that script the way ``multiprocessing``'s spawn does: by
path, as module ``__mp_main__``, so its ``if __name__ == "__main__":`` block
does not run.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
from types import ModuleType
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from plugin_core.errors import ConfigError, UnknownServiceTypeError
from plugin_core.model.deferred import DeferredSignature

T = TypeVar("T", bound="BaseTypedModel")

_CLASSES: dict[str, type[BaseTypedModel]] = {}
ENTRY_POINT_GROUP = "outlive.services"
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


def type_name_of(cls: type) -> str:
    """The name stored in ``type``: the import path a fresh process would use, or
    ``"<script path>:<QualName>"`` for a class defined in a script run as ``__main__``."""
    path = script_path(cls)
    if path is not None:
        return f"{path}:{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


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
    """True for a ``type`` naming a class by its script's path (see :func:`type_name_of`)."""
    path, sep, _ = type_name.rpartition(":")
    return bool(sep) and os.path.isabs(path)


class BaseTypedModel(BaseModel):
    """A pydantic model with a ``type`` discriminator naming its concrete class."""

    # Infinity and NaN are refused in every float field: a NaN timeout would wait forever.
    model_config = ConfigDict(
        validate_assignment=True, extra="forbid", allow_inf_nan=False, defer_build=True
    )

    type: str = ""
    _registered: ClassVar[bool] = False
    __signature__ = DeferredSignature()  # the build is deferred: see plugin_core.model.deferred

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        _CLASSES[type_name_of(cls)] = cls
        if not cls.__pydantic_complete__:  # a built parent's signature must not stand for ours
            type.__setattr__(cls, "__signature__", DeferredSignature())

    @model_validator(mode="wrap")
    @classmethod
    def _dispatch_on_type(cls, data: Any, handler: Any) -> Any:
        if isinstance(data, dict) and data.get("type"):
            target = resolve_type(str(data["type"]))
            if target is not cls:
                if not issubclass(target, cls):
                    raise ValueError(
                        f"type {data['type']!r} is not a {cls.__qualname__}; "
                        f"use a subclass of {type_name_of(cls)}"
                    )
                return target.model_validate(data)
        result = handler(data)
        if isinstance(result, BaseTypedModel):
            object.__setattr__(result, "type", type_name_of(type(result)))
        return result

    @classmethod
    def from_dict(cls: builtins.type[T], data: dict[str, Any]) -> T:
        """Load a model of the class named in ``data['type']``, which must be a ``cls``."""
        from pydantic import ValidationError

        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, cls.__name__)) from None

    @classmethod
    def from_json(cls: builtins.type[T], json_str: str) -> T:
        """Like :meth:`from_dict`, from a JSON string."""
        import json  # on first use: defining a service class should not pay for it

        try:
            data = json.loads(json_str)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{cls.__name__} JSON is not valid: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} JSON must be an object, got {type(data).__name__}")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Serialise with every subclass field kept (nested models included)."""
        return self.model_dump(mode="json", serialize_as_any=True)

    def to_json(self) -> str:
        """JSON text that :meth:`from_json` turns back into an equal object."""
        return self.model_dump_json(serialize_as_any=True)


def resolve_type(type_name: str) -> type[BaseTypedModel]:
    """Find the class for a stored ``type`` name, importing it when needed."""
    known = _CLASSES.get(type_name)
    if known is not None:
        return known
    if is_script_type(type_name):
        return _class_from_script(type_name)
    from_entry_point = _from_entry_points(type_name)
    if from_entry_point is not None:
        return from_entry_point
    return _import_class(type_name)


def _from_entry_points(type_name: str) -> type[BaseTypedModel] | None:
    from importlib.metadata import entry_points

    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == type_name or entry_point.value.replace(":", ".") == type_name:
            loaded = entry_point.load()
            if isinstance(loaded, type) and issubclass(loaded, BaseTypedModel):
                return loaded
    return None


def _import_class(type_name: str) -> type[BaseTypedModel]:
    module_name, _, qualname = type_name.rpartition(".")
    if not module_name or module_name == "__main__":
        raise UnknownServiceTypeError(
            type_name, "it was defined in __main__ without a script file (python -c, a REPL)"
        )
    # Nested classes: walk back until the module part imports.
    parts = type_name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name, attrs = ".".join(parts[:split]), parts[split:]
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attr in attrs:
                obj = getattr(obj, attr)
        except AttributeError:
            raise UnknownServiceTypeError(
                type_name, f"module {module_name!r} has no attribute {'.'.join(attrs)!r}"
            ) from None
        if isinstance(obj, type) and issubclass(obj, BaseTypedModel):
            return obj
        raise UnknownServiceTypeError(type_name, "it is not an outlive model class")
    raise UnknownServiceTypeError(type_name, f"no module of {qualname!r} could be imported")


def _class_from_script(type_name: str) -> type[BaseTypedModel]:
    path, _, qualname = type_name.rpartition(":")
    module = load_script(path, type_name)
    obj: Any = module
    try:
        for attr in qualname.split("."):
            obj = getattr(obj, attr)
    except AttributeError:
        raise UnknownServiceTypeError(
            type_name, f"the script {path} defines no {qualname!r} at its top level"
        ) from None
    if isinstance(obj, type) and issubclass(obj, BaseTypedModel):
        return obj
    raise UnknownServiceTypeError(type_name, "it is not an outlive model class")


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


def describe_validation_error(exc: Any, model_name: str) -> str:
    """Turn a pydantic ``ValidationError`` into one line per bad field, naming the field."""
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ())) or "(root)"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"  {location}: {message}")
    return f"Invalid {model_name}:\n" + "\n".join(lines)
