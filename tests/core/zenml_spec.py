"""Read ZenML's ``zenml.services`` API document (tests/core/specs) into checkable items.

The document is Sphinx output rendered to Markdown. It names each class twice (in its module
and in "Module contents") and lists inherited members only in its index, so items are merged
by (class, member). Each item keeps what the document says about it: its kind (class, method,
property, attribute, enum value, function), its parameters and its annotation or return type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SPEC = Path(__file__).parent / "specs" / "zenml-services-api.txt"
PYDANTIC_META = frozenset({"model_computed_fields", "model_config", "model_fields", "model_post_init"})

_LINK = re.compile(r"\[`?([^\]`]+)`?\]\([^)]*\)")
_CLASS = re.compile(r"^### \*class\* zenml\.services\.(?:[\w.]+\.)?(\w+)\((.*)\)\s*$")
_FUNCTION = re.compile(r"^### zenml\.services\.[\w.]+\.(\w+)\((.*)\) → (.+)$")
_MEMBER = re.compile(r"^#### (?P<tags>(?:\*\w+\* )*)(?P<name>\w+)(?P<rest>.*)$")
_INDEX_MEMBER = re.compile(r"^\s*\* \[`(\w+)\.(\w+)(\(\))?`\]")
_INDEX_CLASS = re.compile(r"^\s*\* \[`([A-Z]\w+)`\]\(zenml\.services\.(container|local)")
_INDEX_FUNCTION = re.compile(r"^\s*\* \[`(\w+)\(\)`\]\(zenml\.services\.([\w.]+)\.md#([\w.]+)\)")


@dataclass
class Param:
    """One documented parameter: ``default`` is the source text of the default, or None."""

    name: str
    kind: str  # "positional" | "keyword" | "var_positional" | "var_keyword"
    annotation: str
    default: str | None


@dataclass
class Item:
    """One documented class, function or member."""

    owner: str  # class name; "" for a function
    name: str  # member name; "" for the class itself
    kind: str  # class | function | method | classmethod | property | attribute | value
    params: list[Param] | None = None
    annotation: str | None = None  # attribute type, or return type of a callable
    value: str | None = None  # enum values and class-level constants
    abstract: bool = False
    module: str = ""  # documented module, for functions

    @property
    def key(self) -> tuple[str, str]:
        return (self.owner, self.name)


@dataclass
class Spec:
    items: dict[tuple[str, str], Item] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        known = self.items.get(item.key)
        if known is None or (known.params is None and known.annotation is None):
            self.items[item.key] = item

    def classes(self) -> list[str]:
        return sorted({owner for owner, name in self.items if owner and not name})


def clean(text: str) -> str:
    """Markdown links and escapes removed, typographic quotes straightened."""
    text = _LINK.sub(r"\1", text).replace("\\*", "*").replace("\\_", "_")
    return text.replace("\u201d", '"').replace("\u201c", '"').replace("\u2019", "'")


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets and quotes."""
    parts, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == sep and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def parse_params(text: str) -> list[Param]:
    params, keyword_only = [], False
    for part in split_top(text):
        if part == "*":
            keyword_only = True
            continue
        if part == "/":
            continue
        kind = "keyword" if keyword_only else "positional"
        if part.startswith("**"):
            kind, part = "var_keyword", part[2:]
        elif part.startswith("*"):
            kind, part, keyword_only = "var_positional", part[1:], True
        head, _, default = part.partition(" = ")
        name, _, annotation = head.partition(": ")
        params.append(Param(name.strip(), kind, annotation.strip(), default.strip() or None))
    return params


def load(path: Path = SPEC) -> Spec:
    spec = Spec()
    owner = ""
    for raw in path.read_text().splitlines():
        index_class = _INDEX_CLASS.match(raw)
        if index_class:
            spec.add(Item(index_class.group(1), "", "class"))
            continue
        index_function = _INDEX_FUNCTION.match(raw)
        if index_function:
            module = index_function.group(3).rpartition(".")[0]
            spec.add(Item("", index_function.group(1), "function", module=module))
            continue
        index_member = _INDEX_MEMBER.match(raw)
        if index_member:
            kind = "method" if index_member.group(3) else "attribute"
            spec.add(Item(index_member.group(1), index_member.group(2), kind))
            continue
        line = clean(raw)
        match = _CLASS.match(line)
        if match:
            owner = match.group(1)
            spec.add(Item(owner, "", "class", params=parse_params(match.group(2))))
            continue
        match = _FUNCTION.match(line)
        if match:
            owner = ""
            params = parse_params(match.group(2))
            spec.add(Item("", match.group(1), "function", params=params, annotation=match.group(3)))
            continue
        if line.startswith("## "):
            owner = ""
            continue
        match = _MEMBER.match(line)
        if match and owner:
            spec.add(_member(owner, match.group("tags"), match.group("name"), match.group("rest")))
    return spec


def _member(owner: str, tags: str, name: str, rest: str) -> Item:
    abstract = "*abstract*" in tags
    if rest.startswith("("):
        close = _closing_paren(rest)
        params = parse_params(rest[1:close])
        returns = rest[close + 1 :].strip().removeprefix("→").strip() or None
        kind = "classmethod" if "*classmethod*" in tags else "method"
        return Item(owner, name, kind, params=params, annotation=returns, abstract=abstract)
    typed = re.match(r"^ \*: (.+?)\*(?: \*= (.+)\*)?\s*$", rest)
    valued = re.match(r"^ \*= (.+)\*\s*$", rest)
    if typed:
        kind = "property" if "*property*" in tags else "attribute"
        return Item(owner, name, kind, annotation=typed.group(1), value=typed.group(2))
    if valued:
        return Item(owner, name, "value", value=valued.group(1))
    return Item(owner, name, "attribute")


def _closing_paren(text: str) -> int:
    depth = 0
    for position, char in enumerate(text):
        depth += char == "("
        depth -= char == ")"
        if depth == 0:
            return position
    raise ValueError(f"unbalanced parentheses in {text!r}")
