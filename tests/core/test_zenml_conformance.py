"""Every class and member of ZenML's ``zenml.services`` document, checked against plugin_core.

The document (tests/core/specs/zenml-services-api.txt) is parsed, not retyped, so nothing it
lists is skipped. Each item must exist with the documented kind (method, classmethod,
property, field, enum value), parameters (names, kinds, defaults; extra parameters of ours
must be optional) and annotation or return type, unless it is in :data:`DIFFERENCES` below,
each with its reason. The README's "Coming from ZenML" table must list the same items, and an
entry that no longer differs fails too, so the list stays exact.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import plugin_core
from plugin_core import ServiceEndpointProtocol, ServiceState
from tests.core import zenml_spec
from tests.core.zenml_spec import Item, split_top

SPEC = zenml_spec.load()
README = Path(__file__).resolve().parents[2] / "README.md"

# Where a documented function lives here (classes are all exported by plugin_core).
FUNCTION_MODULES = {
    "update_service_status": "plugin_core",
    "launch_service": "plugin_core.backends._container_entrypoint",
}

# Deliberate differences, each with the reason (mirrored in README "Coming from ZenML").
# Key: (class, member); member "" is the class's constructor, class "" a module function.
# Every `type` field also differs in the same way, checked once in test_type_fields:
#   ZenML types it `Literal["<import path>"]`; ours is a `str` holding the class's registered
#   name (`outlive.command`; an import path for a user class that declares none, the script
#   path for classes defined in __main__), filled in when the model is built.
DIFFERENCES: dict[tuple[str, str], str] = {
    # -- lifecycle semantics ---------------------------------------------------------------
    ("BaseService", "start"): (
        "timeout defaults to None (wait up to the probe policy's startup_timeout) instead of 0, "
        "so start() returns only once ACTIVE or raises; start(timeout=0) returns at once as in ZenML"
    ),
    ("LocalDaemonService", "start"): "same as BaseService.start",
    ("BaseService", "stop"): (
        "timeout defaults to 10 s (the grace before SIGKILL) instead of 0: a stop always waits "
        "for the process tree to be gone"
    ),
    ("BaseService", "from_json"): (
        "returns the class it is called on (typed as a TypeVar bound to BaseTypedModel)"
    ),
    # -- endpoints and monitors ------------------------------------------------------------
    ("BaseServiceEndpoint", ""): (
        "no *args: ZenML passes them to pydantic, which refuses positional arguments anyway"
    ),
    ("LocalDaemonServiceEndpoint", ""): (
        "no *args (see BaseServiceEndpoint); monitor defaults to None instead of being required"
    ),
    ("ContainerServiceEndpoint", ""): "same as LocalDaemonServiceEndpoint",
    ("LocalDaemonServiceEndpoint", "monitor"): (
        "any BaseServiceEndpointHealthMonitor subclass is accepted (ZenML: HTTP or TCP only), "
        "so custom ZenML-style monitors work"
    ),
    ("ContainerServiceEndpoint", "monitor"): "same as LocalDaemonServiceEndpoint.monitor",
    ("HTTPEndpointHealthMonitorConfig", "http_timeout"): (
        "a float (seconds), so sub-second timeouts work; ints are accepted as before"
    ),
    ("HTTPEndpointHealthMonitorConfig", ""): "http_timeout default 5.0 (float), see http_timeout",
    # -- containers ------------------------------------------------------------------------
    ("ContainerServiceConfig", ""): (
        "image defaults to '' (our runtime image, outlive-runtime:latest, for run() subclasses) "
        "instead of zenmldocker/zenml"
    ),
    ("ContainerService", "docker_client"): "typed Any: the docker SDK is an optional extra",
    ("ContainerService", "container"): "typed Any: the docker SDK is an optional extra",
}

def _unwrap(text: str, wrapper: str, keep_first: bool = True) -> str:
    """Drop ``wrapper[...]`` around its first argument (everywhere in ``text``)."""
    start = text.find(wrapper + "[")
    while start != -1 and (start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_")):
        inner_start = start + len(wrapper) + 1
        depth, end = 1, inner_start
        while depth:
            depth += {"[": 1, "]": -1}.get(text[end], 0)
            end += 1
        inner = text[inner_start : end - 1]
        inner = split_top(inner)[0] if keep_first else inner
        text = text[:start] + inner + text[end:]
        start = text.find(wrapper + "[")
    return text


def normalize(annotation: str | None) -> str | None:
    """One spelling per type: no module prefixes, builtin generics, ``X | None``, sorted unions."""
    if annotation is None:
        return None
    text = annotation.replace(" ", "").replace('"', "'").replace("~", "")  # ~T: a TypeVar object
    for wrapper in ("SerializeAsAny", "DuckSerialized", "Annotated"):
        text = _unwrap(text, wrapper)
    text = re.sub(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)", r"\1", text)
    for alias, builtin in (("Tuple", "tuple"), ("Dict", "dict"), ("List", "list"), ("Type", "type")):
        text = re.sub(rf"\b{alias}\[", f"{builtin}[", text)
    text = re.sub(r"\bOptional\[(.*)\]$", r"\1|None", text)
    parts = split_top(text, "|")
    return "|".join(sorted(parts)) if len(parts) > 1 else text


def _annotation_of(cls: type, name: str) -> str | None:
    for klass in cls.__mro__:
        raw = inspect.get_annotations(klass).get(name)
        if raw is not None:
            return raw if isinstance(raw, str) else inspect.formatannotation(raw)
    return None


def _return_of(func: Any) -> str | None:
    annotations = getattr(func, "__annotations__", {})
    if "return" not in annotations:
        return None
    raw = annotations["return"]  # a string, or (in modules without __future__ annotations) the type
    return raw if isinstance(raw, str) else inspect.formatannotation(raw)


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return eval(text, {"ServiceState": ServiceState, "ServiceEndpointProtocol": ServiceEndpointProtocol})


def _compare_params(item: Item, signature: inspect.Signature, skip: set[str]) -> list[str]:
    problems = []
    ours = {name: p for name, p in signature.parameters.items() if name not in ("self", "cls")}
    documented = {p.name for p in item.params or []}
    for param in item.params or []:
        if param.name in skip or param.kind in ("var_positional", "var_keyword"):
            if param.kind == "var_positional" and not any(
                p.kind is inspect.Parameter.VAR_POSITIONAL for p in ours.values()
            ):
                problems.append(f"no *{param.name}")
            continue
        mine = ours.get(param.name)
        if mine is None:
            problems.append(f"parameter {param.name!r} is missing")
            continue
        keyword_only = mine.kind is inspect.Parameter.KEYWORD_ONLY
        if (param.kind == "keyword") != keyword_only:
            problems.append(f"parameter {param.name!r} is {mine.kind.description}, documented {param.kind}")
        problems += _compare_default(param.name, param.default, mine)
    for name, mine in ours.items():
        variadic = mine.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        required = mine.default is inspect.Parameter.empty and not variadic
        if name not in documented and name not in skip and required:
            problems.append(f"extra required parameter {name!r}")
    return problems


def _compare_default(name: str, documented: str | None, mine: inspect.Parameter) -> list[str]:
    if documented is None:
        return []  # required there; a default here only accepts more calls
    if mine.default is inspect.Parameter.empty:
        return [f"parameter {name!r} is required, documented default {documented}"]
    if documented == "None" and _is_factory(mine):
        return []  # Sphinx shows a pydantic default_factory as "= None"
    expected = _literal(documented)
    if mine.default != expected or type(mine.default) is not type(expected):
        return [f"parameter {name!r} defaults to {mine.default!r}, documented {documented}"]
    return []


def _is_factory(param: inspect.Parameter) -> bool:
    return repr(param.default) == "<factory>" or callable(param.default)


def check(item: Item) -> list[str]:
    """What differs between the documented item and ours (empty: the same)."""
    if item.owner == "":
        module = importlib.import_module(FUNCTION_MODULES[item.name])
        func = getattr(module, item.name, None)
        if func is None:
            return [f"{module.__name__}.{item.name} is missing"]
        if item.params is None:  # only named in the document's index
            return []
        return _compare_params(item, inspect.signature(func), set()) + _compare_return(item, func)
    cls = getattr(plugin_core, item.owner, None)
    if not isinstance(cls, type):
        return [f"plugin_core.{item.owner} is missing"]
    if item.name == "":
        return _check_class(item, cls)
    if item.name in zenml_spec.PYDANTIC_META:
        return [] if hasattr(cls, item.name) else [f"{item.name} is missing"]
    return _check_member(item, cls)


def _check_class(item: Item, cls: type) -> list[str]:
    if issubclass(cls, enum.Enum):
        return [] if issubclass(cls, str) and cls.__bases__[0] is str else ["not a str Enum"]
    if item.params is None:
        return []
    return _compare_params(item, inspect.signature(cls), {"type"})


def _check_member(item: Item, cls: type) -> list[str]:
    static = inspect.getattr_static(cls, item.name, None)
    fields = getattr(cls, "model_fields", {})
    if item.kind == "value":
        member = getattr(cls, item.name, None)
        if member is None:
            return [f"{item.name} is missing"]
        return [] if member.value == _literal(item.value or "") else [f"{item.name} = {member.value!r}"]
    if item.kind in ("method", "classmethod"):
        if not callable(getattr(cls, item.name, None)):
            return [f"method {item.name}() is missing"]
        problems = []
        if item.kind == "classmethod" and not isinstance(static, classmethod):
            problems.append(f"{item.name} is not a classmethod")
        func = getattr(cls, item.name)
        return problems + _compare_params(item, inspect.signature(func), set()) + _compare_return(
            item, func
        )
    if item.kind == "property":
        if not isinstance(static, property):
            return [f"property {item.name} is missing"]
        return _compare_annotation(item, _return_of(static.fget))
    # a documented attribute: a model field, a ClassVar, or (index-only items) anything
    if _is_type_tag(item):
        return []  # see test_type_fields
    if item.name not in fields and not hasattr(cls, item.name) and static is None:
        return [f"attribute {item.name} is missing"]
    if item.annotation is None:
        return []
    return _compare_annotation(item, _annotation_of(cls, item.name))


def _compare_return(item: Item, func: Any) -> list[str]:
    if item.annotation is None:
        return []
    return _compare_annotation(item, _return_of(func))


def _aliases() -> dict[str, str]:
    """ZenML names that plugin_core exports as another class (``LocalDaemonServiceStatus`` is
    ``SupervisedServiceStatus``) -> that class's own name: both spell the same type."""
    import plugin_core

    found = {}
    for name in plugin_core.__all__:
        value = getattr(plugin_core, name)
        if isinstance(value, type) and value.__name__ != name:
            found[name] = value.__name__
    return found


ALIASES = _aliases()


def _canonical(text: str | None) -> str | None:
    if text is None:
        return None
    return normalize(re.sub(r"\b[A-Za-z_]\w*\b", lambda m: ALIASES.get(m.group(0), m.group(0)), text))


def _compare_annotation(item: Item, ours: str | None) -> list[str]:
    if item.annotation is None:
        return []
    if _canonical(ours) != _canonical(item.annotation):
        return [f"typed {ours!r}, documented {item.annotation!r}"]
    return []


def _is_type_tag(item: Item) -> bool:
    return item.name == "type" and (item.annotation or "Literal").startswith("Literal")


def _counted() -> list[Item]:
    return [i for i in SPEC.items.values() if i.name not in zenml_spec.PYDANTIC_META]


def test_the_document_is_read_completely() -> None:
    """Guards the parser: every class section and the index's members are found."""
    assert len(SPEC.classes()) == 28
    assert len(_counted()) == 232
    assert ("ContainerServiceConfig", "model_name") in SPEC.items  # index-only, inherited


@pytest.mark.parametrize("key", sorted(SPEC.items), ids=lambda key: ".".join(p for p in key if p))
def test_documented_item(key: tuple[str, str]) -> None:
    item = SPEC.items[key]
    problems = check(item)
    if key in DIFFERENCES:
        assert problems, f"{key} is listed as a difference but now matches: drop it from DIFFERENCES"
    else:
        assert not problems, "; ".join(problems)


def test_type_fields() -> None:
    """The one systematic difference: `type` holds our registered type name as a str."""
    service = plugin_core.CommandService.http("t", "true")
    assert service.type == "outlive.command"
    assert service.config.type == "outlive.command-config"


def test_every_difference_is_documented_in_the_readme() -> None:
    section = README.read_text().split("### Coming from ZenML", 1)[1].split("\n### ", 1)[0]
    for owner, name in DIFFERENCES:
        label = f"`{owner}.{name}`" if name else f"`{owner}`"
        assert label in section, f"README's Coming from ZenML table lacks {label}"


def test_counts_are_reported() -> None:
    """same / different on purpose / missing, over the 232 counted items (README quotes them)."""
    missing = [k for k in DIFFERENCES if DIFFERENCES[k].startswith("missing")]
    tags = [i.key for i in _counted() if _is_type_tag(i)]
    different = [k for k in DIFFERENCES if k not in missing] + tags
    same = [i for i in _counted() if i.key not in DIFFERENCES and i.key not in tags]
    section = README.read_text().split("### Coming from ZenML", 1)[1]
    assert f"{len(same)} are the same, {len(different)} differ on purpose, {len(missing)} " in section
