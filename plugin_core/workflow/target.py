"""Turn ``module:attr`` into something the executor can run.

A target is a function (sync or async), an object whose ``run(**kwargs)`` returns
an awaitable (a llama-index ``Workflow`` counts), or a class of such an object
(built once, with no arguments). Sync functions run in a worker thread so a
CPU- or GPU-bound call does not stall the event loop that answers health checks.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plugin_core.workflow.errors import WorkflowLoadError


@dataclass(frozen=True)
class WorkflowTarget:
    """A loaded callable plus how to call it: in a thread (sync) or on the loop (async)."""

    name: str
    call: Callable[..., Any]
    in_thread: bool
    description: str = ""
    obj: Any = None  # the workflow object or function itself (llama_deploy's ``workflow``)


def load_target(spec: str | object) -> WorkflowTarget:
    """Resolve an import path or an object into a :class:`WorkflowTarget`.

    Raises :class:`WorkflowLoadError` naming the path when it does not import or
    names nothing callable, so a bad definition fails at start, not per task.
    """
    obj = _import(spec) if isinstance(spec, str) else spec
    name = spec if isinstance(spec, str) else _describe(obj)
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:
            raise WorkflowLoadError(name, f"building {obj.__qualname__}() failed: {exc}") from exc
    run = getattr(obj, "run", None)
    if not inspect.isroutine(obj) and callable(run):
        return WorkflowTarget(name, run, in_thread=False, description=_doc(obj), obj=obj)
    if not callable(obj):
        raise WorkflowLoadError(name, f"{type(obj).__name__} is neither callable nor has run()")
    is_async = inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(
        type(obj).__call__  # an instance with an async __call__
    )
    return WorkflowTarget(name, obj, in_thread=not is_async, description=_doc(obj), obj=obj)


def _import(path: str) -> Any:
    module_name, _, attr_path = path.partition(":")
    if not module_name or not attr_path:
        raise WorkflowLoadError(path, "expected 'package.module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise WorkflowLoadError(path, f"module {module_name!r} does not import ({exc})") from exc
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise WorkflowLoadError(
                path, f"{module_name!r} has no attribute {attr_path!r}"
            ) from None
    return obj


def _describe(obj: object) -> str:
    module = getattr(obj, "__module__", None) or type(obj).__module__
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}:{qualname}"


def _doc(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
