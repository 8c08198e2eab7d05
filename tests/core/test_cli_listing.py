"""The ``outlive list`` table, drawn without rich, looks as rich drew it.

Until the table moved to :mod:`plugin_core.cli.listing` (rich's import alone cost more than
the rest of a listing), ``outlive list`` printed a rich ``Table``; scripts and people read
that layout, so these tests keep the rich table as the reference and compare the two on the
same rows: in a pipe (no styles, nothing folded) character for character, on a terminal by
the styles each cell gets.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from plugin_core.cli import listing

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=timezone.utc)
INFOS: list[dict[str, Any]] = [
    {
        "name": "web",
        "kind": "local/command",
        "state": "active",
        "url": "http://127.0.0.1:8000",
        "prediction_url": "http://127.0.0.1:8000/predict",
        "created_at": (NOW - timedelta(seconds=42)).isoformat(),
    },
    {
        "name": "a-much-longer-service-name",
        "kind": "docker/container",
        "state": "error",
        "url": "http://127.0.0.1:9000",
        "created_at": (NOW - timedelta(hours=3, minutes=5)).isoformat(),
    },
    {"name": "stopped", "kind": "local/command", "state": "inactive", "url": None},
    {
        "name": "模型服务",  # wide characters take two columns each
        "kind": "ray/serve",
        "state": "pending_startup",
        "created_at": (NOW - timedelta(days=2)).replace(tzinfo=None).isoformat(),
    },
    {"name": "odd", "kind": "", "state": None, "url": "tcp://host:1"},
]


def rich_table(infos: list[dict[str, Any]], width: int, colour: bool) -> str:
    """What ``outlive list`` printed with rich before (the former ``views.services_table``)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("NAME", overflow="fold")
    table.add_column("KIND", no_wrap=True)
    table.add_column("STATE", no_wrap=True)
    table.add_column("URL", no_wrap=True)
    table.add_column("AGE", justify="right", no_wrap=True)
    for info in infos:
        state = info.get("state") or "unknown"
        url = info.get("prediction_url") or info.get("url")
        shown_url = url if state == "active" and url else Text(url or "-", style="dim")
        table.add_row(
            str(info["name"]),
            str(info.get("kind", "")),
            Text(state.upper(), style=listing.STATE_STYLES.get(state, "")),
            shown_url,
            listing.age(info.get("created_at"), NOW),
        )
    out = io.StringIO()
    console = Console(
        file=out, width=width, force_terminal=colour, color_system="standard" if colour else None
    )
    console.print(table)
    return out.getvalue()


def test_piped_table_is_rich_s_table_character_for_character() -> None:
    plain = listing.render_table(INFOS, now=NOW)
    assert plain == rich_table(INFOS, listing.PIPE_WIDTH, colour=False)
    assert "\x1b" not in plain
    assert len(plain.splitlines()) == len(INFOS) + 1  # one service, one line


def test_terminal_table_styles_the_cells_rich_styled() -> None:
    styled = listing.render_table(INFOS, colour=True, now=NOW)
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    assert ansi.sub("", styled) == listing.render_table(INFOS, now=NOW)
    reference = rich_table(INFOS, listing.PIPE_WIDTH, colour=True)
    for fragment in ("NAME", "ACTIVE", "ERROR", "INACTIVE", "PENDING_STARTUP", "UNKNOWN", "-"):
        assert _style_of(styled, fragment) == _style_of(reference, fragment), fragment
    assert _style_of(styled, "ACTIVE") == {"1", "32"}  # bold green
    assert _style_of(styled, "web") == set()  # names are not styled


def test_no_color_keeps_bold_and_dim_only() -> None:
    styled = listing.render_table(INFOS, colour=True, no_color=True, now=NOW)
    assert _style_of(styled, "ERROR") == {"1"}
    assert _style_of(styled, "INACTIVE") == {"2"}
    assert _style_of(styled, "PENDING_STARTUP") == set()


def test_narrow_terminal_folds_the_name_column_only() -> None:
    width = 80
    folded = listing.render_table(INFOS, width=width, now=NOW)
    lines = folded.splitlines()
    assert all(listing.cell_len(line) <= width for line in lines)
    assert len(lines) > len(INFOS) + 1
    assert "a-much-lo" in folded and "http://127.0.0.1:9000" in folded
    assert folded == rich_table(INFOS, width, colour=False)


@pytest.mark.parametrize("environment", [{}, {"NO_COLOR": "1"}, {"TERM": "dumb"}])
def test_write_table_to_a_pipe_is_plain(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    for key in ("COLUMNS", "FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    out = io.StringIO()
    listing.write_table(INFOS[:1], out)
    assert "\x1b" not in out.getvalue()
    assert out.getvalue().splitlines()[1].startswith("web ")


def test_force_color_styles_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out = io.StringIO()
    listing.write_table(INFOS[:1], out)
    assert "\x1b[1;32mACTIVE\x1b[0m" in out.getvalue()


def _style_of(text: str, fragment: str) -> set[str]:
    """The SGR codes in effect where ``fragment`` first appears in ``text``."""
    codes: set[str] = set()
    for piece in re.split(r"(\x1b\[[0-9;]*m)", text):
        if piece.startswith("\x1b["):
            found = piece[2:-1]
            codes = set() if found in ("", "0") else codes | set(found.split(";"))
        elif fragment in piece:
            return codes
    raise AssertionError(f"{fragment!r} not in the output")
