"""The fast ways of decoding registry records give exactly what validation gives.

Two shortcuts sit in the decoding path: stored documents are parsed by pydantic's JSON parser
(:func:`plugin_core.model.typed.parse_document`, ``json.loads`` for what it refuses), and a
record whose stored text was decoded before in this process is handed out as a copy of that
service (:mod:`plugin_core.registry.decoded`). Properties (Hypothesis, fixed seed): for any
JSON text the parser gives what ``json.loads`` gives (or the same error); for any record the
code writes, the copy equals the freshly validated service in every field, fields-set and
private attribute, and shares nothing mutable with it. A row changed by hand after it was
decoded is validated again, and quarantined if it no longer loads.
"""

from __future__ import annotations

import json
import sqlite3
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from pydantic import BaseModel

from plugin_core import (
    BaseService,
    CommandService,
    LocalDaemonService,
    ServiceRegistry,
    ServiceState,
)
from plugin_core.model.typed import parse_document
from plugin_core.registry.store import DECODED
from tests.core.test_properties import SETTINGS as PROPERTY_SETTINGS

SETTINGS = settings(PROPERTY_SETTINGS, max_examples=60)  # a registry write per example

TEXT = st.text(max_size=30)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=15,
)
PLAIN = st.text(st.characters(codec="utf-8", exclude_characters="\0"), min_size=1, max_size=20)
NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)


def same(left: Any, right: Any, where: str = "service") -> None:
    """Equal values of the same types all the way down, models' bookkeeping included."""
    assert type(left) is type(right), where
    if isinstance(left, BaseModel):
        assert left.__pydantic_fields_set__ == right.__pydantic_fields_set__, where
        assert left.__pydantic_extra__ == right.__pydantic_extra__, where
        assert (left.__pydantic_private__ or {}).keys() == (right.__pydantic_private__ or {}).keys()
        assert left.__dict__.keys() == right.__dict__.keys(), where
        for name, value in left.__dict__.items():
            same(value, right.__dict__[name], f"{where}.{name}")
    elif isinstance(left, (dict, list, set)):
        assert left == right, where
        if isinstance(left, dict):
            for key, value in left.items():
                same(value, right[key], f"{where}[{key!r}]")
    else:
        assert left == right, where


def shares_nothing_mutable(left: Any, right: Any) -> None:
    if isinstance(left, BaseModel) and left is right:  # only what cannot change may be shared
        assert left.model_config.get("frozen") and left.__pydantic_private__ is None
        assert all(type(v) in (str, int, float, bool, type(None)) or isinstance(v, Enum)
                   for v in left.__dict__.values())
        return
    if isinstance(left, (BaseModel, dict, list, set)):
        assert left is not right
    if isinstance(left, BaseModel):
        for name, value in left.__dict__.items():
            shares_nothing_mutable(value, right.__dict__[name])
    elif isinstance(left, dict):
        for key, value in left.items():
            shares_nothing_mutable(value, right[key])


@SETTINGS
@given(JSON_VALUES)
def test_parsed_documents_are_what_json_loads_gives(value: Any) -> None:
    text = json.dumps(value)
    same(parse_document(text), json.loads(text), "document")


@SETTINGS
@given(st.text(alphabet='{}[]",:0123456789abcdef.E+-\\u tlnr', max_size=40))
def test_any_text_parses_or_fails_as_json_loads_does(text: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError as exc:
        with pytest.raises(type(exc)):
            parse_document(text)
        return
    same(parse_document(text), expected, "document")


SERVICES = st.builds(
    lambda name, command, labels, env, port, path, mode, state, counts, ready, code, error: (
        name,
        dict(
            command=command,
            port=port,
            health_path=path,
            labels=labels,
            env=env,
            restart={"mode": mode},
        ),
        dict(
            state=state,
            consecutive_successes=counts,
            ready_once=ready,
            exit_code=code,
            last_error=error,
        ),
    ),
    NAME,
    st.lists(PLAIN, max_size=3).map(lambda rest: ["python", *rest]),
    st.dictionaries(PLAIN, PLAIN, max_size=3),
    st.dictionaries(PLAIN, PLAIN, max_size=3),
    st.none() | st.integers(min_value=1024, max_value=65535),
    st.sampled_from(["/", "/health", "ready?x=1"]),
    st.sampled_from(["never", "on-failure", "always"]),
    st.sampled_from(list(ServiceState)),
    st.integers(min_value=0, max_value=10**6),
    st.booleans(),
    st.none() | st.integers(min_value=-255, max_value=255),
    TEXT,
)


@SETTINGS
@given(SERVICES)
def test_a_record_read_again_is_a_copy_of_what_validation_gives(
    outlive_home: Path, example: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    name, config, status = example
    registry = ServiceRegistry()
    service = CommandService.http(name, **config)
    for field, value in status.items():
        setattr(service.status, field, value)
    existing = registry.get_or_none(name)
    if existing is not None:
        registry.delete(name)
    registry.save(service)
    (record,) = registry.list_records(name=name)
    registry.get(name)  # validated; its text noted
    first = registry.get(name)  # validated again, and kept
    again = registry.get(name)  # the copy
    validated = BaseService.from_model(record)
    validated.attach_registry(registry)
    same(first, validated)
    same(again, validated)
    assert again.registry_version == validated.registry_version == record.version
    assert again.created_at == record.created_at and again.updated_at == record.updated_at
    shares_nothing_mutable(again, first)
    again.status.update_state(ServiceState.ERROR, "changed by the caller")
    again.config.labels["added"] = "by the caller"
    again.config.command.append("--more")
    same(registry.get(name), validated)  # what a caller does to its copy stays its own


def test_a_row_edited_after_it_was_read_is_validated_again(outlive_home: Path) -> None:
    registry = ServiceRegistry()
    for name in ("good", "bad", "sleepy"):
        registry.save(CommandService.http(name, ["python", "-m", "http.server", "{port}"]))
    assert [s.config.service_name for s in registry.find()] == ["good", "bad", "sleepy"]
    with sqlite3.connect(outlive_home / "registry.db") as db:
        db.execute("UPDATE outlive_services SET config = '{not json' WHERE name = 'bad'")
        db.execute("UPDATE outlive_services SET admin_state = 'sleepy' WHERE name = 'sleepy'")
    assert [s.config.service_name for s in registry.find()] == ["good"]
    assert [e.service_name for e in registry.corrupt_records] == ["bad", "sleepy"]


class Ticker(LocalDaemonService):
    """A class of the test's own: stored by import path, so never kept."""

    def run(self) -> None:  # pragma: no cover - never started here
        return None


def test_only_outlive_classes_are_kept(outlive_home: Path) -> None:
    registry = ServiceRegistry()
    registry.save(Ticker())
    registry.save(CommandService.http("cmd", ["python", "-m", "http.server", "{port}"]))
    records = {record.name: record for record in registry.list_records()}
    assert DECODED.get(records["cmd"]) is None  # not read yet
    registry.find()
    assert DECODED.get(records["cmd"]) is None  # read once: only its text is noted
    registry.find()
    assert DECODED.get(records["cmd"]) is not None
    (ticker,) = [r for name, r in records.items() if name != "cmd"]
    assert DECODED.get(ticker) is None
