"""Every item of llama_deploy's services document, checked against outlive's faithful face.

The document (``llama_deploy_services_api.txt``, a copy of the seed
``shared/seeds/llama-deploy-services-api.txt``) is parsed, not transcribed: each
class, each member with its flags (``async``, ``property``) and signature, each
constructor parameter with its default, each attribute and each config field
becomes one item. An item is *same* when it exists with the documented
signature (parameter names, kinds and defaults; the return annotation) and
default; it is *different on purpose* when it is in :data:`DIFFERENT` below,
with the reason; anything else fails the test, so nothing is silently missing.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from plugin_core.workflow import WorkflowService, WorkflowServiceConfig

DOCUMENT = Path(__file__).with_name("llama_deploy_services_api.txt")

# Deliberate differences, one line each with the reason (also in the README, "Coming from
# llama_deploy"). Keys are item ids as built by `items()`.
DIFFERENT: dict[str, str] = {
    # The class: outlive's BaseService is ZenML's (plugin_core.BaseService); llama_deploy's
    # base members are all on WorkflowService (LlamaDeployFace), which is what users build.
    "class BaseService": "llama's abstract base is not exported; its members live on WorkflowService",
    # Return types that say more than the document's.
    "BaseService.as_consumer": "returns MessageQueueConsumer: one class, in-process or over HTTP",
    "WorkflowService.as_consumer": "returns MessageQueueConsumer: one class, in-process or over HTTP",
    "BaseService.launch_local": "returns LocalWorkflow, an asyncio.Task subclass that also serves HTTP",
    "WorkflowService.launch_local": "returns LocalWorkflow, an asyncio.Task subclass that also serves HTTP",
    "BaseService.process_message": "returns the queued TaskRecord (None for SEND_EVENT)",
    "WorkflowService.process_message": "returns the queued TaskRecord (None for SEND_EVENT)",
    "WorkflowService.get_workflow_state": "typed Any | None: the core does not import llama-index",
    # Behaviour: the control plane is the outlive registry, not an HTTP server.
    "BaseService.register_to_control_plane": "takes a registry (SQLAlchemy) URL; an http:// URL is refused with the fix",
    # Constructor: defaults where the document requires a value.
    "WorkflowService(workflow)": "optional: WorkflowService(config=...) is outlive's other form",
    "WorkflowService(service_name)": "defaults to 'default_workflow_service', as llama_deploy's own __init__",
    "WorkflowService(host)": "defaults to 127.0.0.1",
    "WorkflowService(port)": "defaults to a free port, chosen when the server binds",
    # Config: same defaults as the service.
    "WorkflowServiceConfig.host": "defaults to 127.0.0.1",
    "WorkflowServiceConfig.port": "defaults to a free port, chosen when the server binds",
    "WorkflowServiceConfig.description": "defaults to '' so the workflow's docstring describes it",
    "WorkflowServiceConfig.service_name": "optional: a config without a name gets a stable generated one, as every outlive config does (ZenML's rule)",
}


@dataclass
class Item:
    """One documented thing: its id, what the document says, and what we found."""

    key: str
    documented: str
    found: str = ""
    problems: list[str] = field(default_factory=list)


def document_lines() -> list[str]:
    return [line.rstrip("\n") for line in DOCUMENT.read_text().splitlines()]


def members() -> list[tuple[str, str, set[str], str]]:
    """``(class, member, flags, signature)`` for every member the document lists."""
    lines = document_lines()
    found, owner = [], ""
    for i, line in enumerate(lines):
        header = re.match(r"^(\w+) #$", line)
        if header and i + 1 < len(lines) and lines[i + 1].startswith("Bases:"):
            owner = header.group(1)
        elif header and owner:
            found.append((owner, header.group(1), set(), lines[i + 1]))
        elif line == "#" and owner:
            j, flags = i - 1, set()
            while lines[j] in ("abstractmethod", "property", "async"):
                flags.add(lines[j])
                j -= 1
            found.append((owner, lines[j], flags, lines[i + 1]))
    return found


def classes() -> list[str]:
    lines = document_lines()
    return [
        line.split()[0]
        for i, line in enumerate(lines[:-1])
        if re.match(r"^\w+ #$", line) and lines[i + 1].startswith("Bases:")
    ]


def table(owner: str, title: str, columns: int) -> list[list[str]]:
    """Rows of the ``title`` table (Parameters, Attributes) in ``owner``'s section."""
    text = "\n".join(document_lines())
    section = text.split(f"\n{owner} #\n", 1)[1]
    body = section.split(f"{title}:\n", 1)[1]
    body = body.split("---|" * columns + "\n", 1)[1]
    end = min(i for i in (body.find("Attributes:"), body.find("Source code")) if i >= 0)
    body = re.sub(r"(\S) \| (\S)", r"\1 or \2", body[:end])  # a type such as `str | None`
    cells = [cell.strip() for cell in body.split("|")]
    cells = cells[: len(cells) - len(cells) % columns]
    return [cells[i : i + columns] for i in range(0, len(cells), columns)]


def parse_signature(text: str) -> tuple[str, list[tuple[str, str | None]], str]:
    """``name(a: T, b: T = d) -> R`` as (name, [(param, default or None)], return)."""
    match = re.match(r"^(\w+)\((.*)\)(?: -> (.+))?$", text)
    assert match, text
    params = []
    for part in filter(None, (p.strip() for p in _split_top_level(match.group(2)))):
        name, _, rest = part.partition(":")
        default = rest.split("=", 1)[1].strip() if "=" in rest else None
        params.append((name.strip(), default))
    return match.group(1), params, (match.group(3) or "").strip()


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets: ``a: dict[str, Any], b`` is two parameters."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def normal(annotation: str) -> str:
    """Spell a return annotation one way: ``Optional[X]`` = ``X | None``, ``Dict`` = ``dict``."""
    annotation = annotation.replace("Dict[", "dict[").replace("typing.", "")
    optional = re.fullmatch(r"Optional\[(.+)\]", annotation)
    return f"{optional.group(1)} | None" if optional else annotation


def check_member(owner: str, name: str, flags: set[str], signature: str) -> Item:
    item = Item(f"{owner}.{name}", f"{' '.join(sorted(flags))} {signature}".strip())
    attribute = inspect.getattr_static(WorkflowService, name, None)
    if attribute is None:
        item.problems.append("missing")
        return item
    if "property" in flags:
        if not isinstance(attribute, property):
            item.problems.append("not a property")
        item.found = "property"
        return item
    function = getattr(WorkflowService, name)
    wrapped = inspect.unwrap(function)
    is_async = inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(wrapped)
    if ("async" in flags) != is_async:
        item.problems.append(f"async is {is_async}")
    _, documented, returns = parse_signature(signature)
    ours = inspect.signature(wrapped)
    params = [p for p in ours.parameters.values() if p.name != "self"]
    got = [(p.name, None if p.default is p.empty else repr(p.default)) for p in params]
    item.found = f"{name}{ours}"
    if got != documented:
        item.problems.append(f"parameters {got} != {documented}")
    if returns and normal(str(ours.return_annotation)) != normal(returns):
        item.problems.append(f"returns {ours.return_annotation} not {returns}")
    return item


def sample_service() -> WorkflowService:
    """A service built the llama_deploy way with only the required workflow."""
    from tests.workflow import flows

    return WorkflowService(flows.Greeter(), message_queue="memory")


def check_parameter(name: str, default: str) -> Item:
    item = Item(f"WorkflowService({name})", f"default {default}")
    parameters = inspect.signature(WorkflowService.__init__).parameters
    if name not in parameters:
        item.problems.append("missing")
        return item
    value = getattr(sample_service(), name)
    item.found = f"default {value!r}"
    if default == "required":
        item.problems.append(f"optional (default {value!r})")
    elif repr(value) != default and str(value) != default:
        item.problems.append(f"default {value!r}")
    return item


def check_attribute(name: str, type_name: str) -> Item:
    item = Item(f"WorkflowService.attr.{name}", type_name)
    try:
        item.found = repr(getattr(sample_service(), name))
    except AttributeError:
        item.problems.append("missing")
    return item


def check_config_field(name: str, default: str) -> Item:
    item = Item(f"WorkflowServiceConfig.{name}", f"default {default}")
    info = WorkflowServiceConfig.model_fields.get(name)
    if info is None:
        item.problems.append("missing")
        return item
    item.found = f"default {info.default!r}"
    if default == "required":
        with contextlib.suppress(Exception):  # required: building without it must fail
            WorkflowServiceConfig(**({} if name == "service_name" else {"service_name": "x"}))
            item.problems.append(f"optional (default {info.default!r})")
    elif repr(info.default) != default:
        item.problems.append(f"default {info.default!r}")
    return item


def check_class(name: str) -> Item:
    import plugin_core.workflow as face

    item = Item(f"class {name}", "exported")
    cls = getattr(face, name, None)
    if cls is None:
        item.problems.append("not exported by plugin_core.workflow")
        return item
    item.found = f"{cls.__module__}.{cls.__qualname__}"
    if name == "WorkflowServiceConfig":
        from pydantic_settings import BaseSettings

        if not issubclass(cls, BaseSettings):
            item.problems.append("not a pydantic-settings BaseSettings")
    return item


def items() -> list[Item]:
    """Every documented item, checked."""
    found = [check_class(name) for name in classes()]
    found += [check_member(*member) for member in members()]
    found += [check_parameter(row[0], row[3]) for row in table("WorkflowService", "Parameters", 4)]
    found += [check_attribute(row[0], row[1]) for row in table("WorkflowService", "Attributes", 3)]
    found += [
        check_config_field(row[0], row[3])
        for row in table("WorkflowServiceConfig", "Parameters", 4)
    ]
    return found


def verdicts() -> dict[str, list[Item]]:
    groups: dict[str, list[Item]] = collections.defaultdict(list)
    for item in items():
        if item.key in DIFFERENT:
            groups["different on purpose"].append(item)
        elif item.problems:
            groups["unexpected"].append(item)
        else:
            groups["same"].append(item)
    return groups


def test_the_document_parses_into_every_section() -> None:
    """The parser sees what the document has (so a silent parse failure cannot pass)."""
    assert classes() == ["BaseService", "WorkflowService", "WorkflowServiceConfig"]
    assert len(members()) == 22
    assert len(table("WorkflowService", "Parameters", 4)) == 11
    assert len(table("WorkflowService", "Attributes", 3)) == 8
    assert len(table("WorkflowServiceConfig", "Parameters", 4)) == 10


def test_every_documented_item_is_there_or_differs_on_purpose(
    capsys: pytest.CaptureFixture[str],
) -> None:
    groups = verdicts()
    unexpected = [
        f"{i.key}: {'; '.join(i.problems)} (document: {i.documented})" for i in groups["unexpected"]
    ]
    assert unexpected == []
    total = sum(len(group) for group in groups.values())
    with capsys.disabled():
        print(
            f"\nllama_deploy services document: {total} items, {len(groups['same'])} same, "
            f"{len(groups['different on purpose'])} different on purpose, 0 missing"
        )


def test_the_allow_list_has_no_stale_entries() -> None:
    """Each allow-listed item exists in the document and really differs (or is a behaviour)."""
    checked = {item.key: item for item in items()}
    assert set(DIFFERENT) <= set(checked)
    behaviour_only = {"BaseService.register_to_control_plane"}
    stale = [key for key in DIFFERENT if not checked[key].problems and key not in behaviour_only]
    assert stale == []


def test_the_service_attributes_read_back_what_was_passed() -> None:
    """The documented attributes are readable and hold the constructor's values."""
    from tests.workflow import flows

    workflow = flows.Greeter()
    service = WorkflowService(
        workflow,
        message_queue="memory",
        description="d",
        service_name="svc",
        host="127.0.0.2",
        port=8123,
        internal_host="0.0.0.0",
        internal_port=9000,
        max_concurrent_tasks=3,
        step_interval=0.5,
        raise_exceptions=True,
        running=False,
    )
    got: dict[str, Any] = {
        name: getattr(service, name)
        for name in (
            "workflow",
            "description",
            "service_name",
            "host",
            "port",
            "internal_host",
            "internal_port",
            "max_concurrent_tasks",
            "step_interval",
            "raise_exceptions",
            "running",
        )
    }
    assert got == {
        "workflow": workflow,
        "description": "d",
        "service_name": "svc",
        "host": "127.0.0.2",
        "port": 8123,
        "internal_host": "0.0.0.0",
        "internal_port": 9000,
        "max_concurrent_tasks": 3,
        "step_interval": 0.5,
        "raise_exceptions": True,
        "running": False,
    }
    definition = service.service_definition
    assert (definition.service_name, definition.host, definition.port) == ("svc", "127.0.0.2", 8123)


def test_the_config_reads_llama_deploys_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """WorkflowServiceConfig is a BaseSettings with llama_deploy's WORKFLOW_SERVICE_ prefix."""
    monkeypatch.setenv("WORKFLOW_SERVICE_PORT", "8042")
    monkeypatch.setenv("WORKFLOW_SERVICE_MAX_CONCURRENT_TASKS", "3")
    config = WorkflowServiceConfig(host="127.0.0.1", service_name="from-env")
    assert (config.port, config.max_concurrent_tasks, config.service_name) == (8042, 3, "from-env")
