"""Property-based checks (Hypothesis) of the input edge: any generated definition or CLI
argument list gives a valid service or a clean outlive error, never a traceback.

Fixed seed (``derandomize=True``) and a bounded number of examples, so CI runs the same
inputs every time and in bounded time. Addresses are drawn from a fixed list (IP literals,
malformed text, ``localhost``) so no example waits on a DNS server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from plugin_core import BaseService, OutliveError, load_service
from plugin_core.cli import app

SETTINGS = settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

ADDRESSES = ["127.0.0.1", "0.0.0.0", "::1", "localhost", "not an ip", "300.1.1.1", "", "a..b", "-x"]
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["10", "nan", "soon", None, True]),
)
TEXT = st.text(max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
NAMES = st.one_of(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True), TEXT)

CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "name": NAMES,
        "model_name": NAMES,
        "command": st.one_of(st.lists(TEXT, max_size=4), TEXT, JSON_VALUES),
        "stop_grace_period": NUMBERS,
        "startsecs": NUMBERS,
        "labels": st.one_of(st.dictionaries(TEXT, TEXT, max_size=3), JSON_VALUES),
        "restart": st.one_of(
            st.fixed_dictionaries({}, optional={"mode": TEXT, "max_restarts": NUMBERS}), JSON_VALUES
        ),
        "env": st.one_of(st.dictionaries(TEXT, TEXT, max_size=3), JSON_VALUES),
        "cwd": st.one_of(TEXT, st.none()),
        "image": TEXT,
        "unknown_field": JSON_VALUES,
    },
)
ENDPOINT = st.fixed_dictionaries(
    {},
    optional={
        "protocol": st.one_of(st.sampled_from(["http", "https", "tcp", "HTTP"]), TEXT),
        "port": NUMBERS,
        "ip_address": st.sampled_from(ADDRESSES),
        "health": st.one_of(TEXT, JSON_VALUES),
        "allocate_port": JSON_VALUES,
        "monitor": JSON_VALUES,
    },
)
DEFINITIONS = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(
            st.sampled_from(["command", "container", "workflow", "http", "os.path", "__main__.X"]),
            TEXT,
            JSON_VALUES,
        ),
        "config": st.one_of(CONFIG, JSON_VALUES),
        "endpoint": st.one_of(ENDPOINT, JSON_VALUES),
        "uuid": st.one_of(st.uuids().map(str), TEXT),
        "admin_state": st.one_of(st.sampled_from(["active", "inactive"]), TEXT),
    },
)


def loads_cleanly(definition: Any) -> None:
    try:
        service = load_service(definition)
    except OutliveError:
        return
    assert isinstance(service, BaseService)


@SETTINGS
@given(DEFINITIONS)
def test_any_definition_mapping_is_a_service_or_a_clean_error(definition: dict[str, Any]) -> None:
    loads_cleanly(definition)


@SETTINGS
@given(st.one_of(DEFINITIONS.map(lambda d: json.dumps(d, allow_nan=True)), st.text(max_size=200)))
def test_any_definition_text_is_a_service_or_a_clean_error(text: str) -> None:
    loads_cleanly(text)


OPTION_VALUES = st.one_of(NUMBERS.map(str), TEXT)
COMMANDS = st.one_of(
    st.tuples(st.sampled_from(["status", "logs", "stop", "delete", "wait"]), NAMES),
    st.tuples(st.just("list")),
    st.tuples(st.just("prune"), st.just("--dry-run")),
)
OPTIONS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["--timeout", "--tail", "-n"]), OPTION_VALUES),
        st.tuples(st.sampled_from(["--json", "--force", "--follow", "--bogus"])),
    ),
    max_size=3,
)


@SETTINGS
@given(COMMANDS, OPTIONS)
def test_any_cli_arguments_give_a_documented_exit_code_and_no_traceback(
    command: tuple[str, ...], options: list[tuple[str, ...]]
) -> None:
    args = [*command, *(part for option in options for part in option)]
    if "--follow" in args:  # follow waits for new lines by design; it is not input handling
        args.remove("--follow")
    if "wait" in args and "--timeout" not in args:
        args += ["--timeout", "0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1, 2, 3, 4), (args, result.output)
    assert "Traceback" not in result.output, (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result)


@SETTINGS
@given(DEFINITIONS)
def test_any_definition_file_gives_a_clean_cli_error_or_a_valid_definition(
    tmp_path_factory: pytest.TempPathFactory, definition: dict[str, Any]
) -> None:
    """``outlive update`` parses the file and then needs a registered service: nothing starts,
    so every generated file is either refused as bad input or reaches the lookup (exit 3)."""
    path = Path(tmp_path_factory.mktemp("defs")) / "d.yaml"
    path.write_text(json.dumps(definition, allow_nan=True))
    result = CliRunner().invoke(app, ["update", "nothing-registered", str(path)])
    assert result.exit_code in (2, 3), (definition, result.output)
    assert "Traceback" not in result.output


@SETTINGS
@given(st.one_of(st.text(max_size=140), st.text("ab-_.Z9 \n/é", max_size=140)))
def test_a_service_name_is_usable_exactly_when_the_documented_pattern_matches_all_of_it(
    name: str,
) -> None:
    """The name check (string methods) accepts what the documented rule says, 1-128 ASCII
    letters, digits, '.', '_' or '-' starting with a letter or digit, over the whole name:
    no trailing newline, no Unicode digit, nothing beyond 128."""
    import re

    from plugin_core.model.config import usable_service_name

    rule = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", name) is not None
    assert usable_service_name(name) == rule
