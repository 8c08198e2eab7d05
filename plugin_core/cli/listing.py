"""The ``outlive list`` table and the CLI's JSON output, without rich.

``outlive list`` is typed the way ``docker ps`` is, and scripts call it in loops: importing
rich (and building its renderables) costs more than everything else the listing does, so
the table is laid out here with plain string padding. It looks as rich drew it before: one
line per service, columns two spaces apart, AGE right-aligned, the bold header and state
colours only on a terminal that wants colour (``NO_COLOR`` drops the colours, ``FORCE_COLOR``
keeps them in a pipe). On a terminal narrower than the table the NAME column folds, as
rich's ``overflow="fold"`` did; in a pipe or a file nothing folds: one service, one line.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import IO, Any

PIPE_WIDTH = 1000
"""The width of output that goes to no terminal: wide enough that no row ever folds."""
STATE_STYLES = {
    "active": "bold green",
    "pending_startup": "yellow",
    "pending_shutdown": "yellow",
    "inactive": "dim",
    "error": "bold red",
    "scaled_to_zero": "cyan",
}
"""How each observed state is styled (rich style words; the table maps them to ANSI codes)."""
HEADERS = ("NAME", "KIND", "STATE", "URL", "AGE")
_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
_COLOURS = {"red", "green", "yellow", "cyan"}
_GAP = "  "


def print_json(data: Any) -> None:
    """Plain JSON on stdout for scripts: no colour, no wrapping, one document."""
    import json

    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def age(created_at: str | None, now: datetime | None = None) -> str:
    """``created_at`` (ISO text) as a short age: ``42s``, ``5m``, ``3h``, ``2d``."""
    if not created_at:
        return "-"
    created = datetime.fromisoformat(created_at)
    if created.tzinfo is None:  # SQLite drops the offset; records are written in UTC
        created = created.replace(tzinfo=timezone.utc)
    seconds = max(0, int(((now or datetime.now(timezone.utc)) - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table_rows(
    infos: Iterable[Mapping[str, Any]], now: datetime | None = None
) -> list[tuple[tuple[str, str], ...]]:
    """Each service as its five cells, each cell as (text, style)."""
    now = now or datetime.now(timezone.utc)
    rows: list[tuple[tuple[str, str], ...]] = []
    for info in infos:
        state = str(info.get("state") or "unknown")
        url = str(info.get("prediction_url") or info.get("url") or "")
        shown_url = (url, "") if state == "active" and url else (url or "-", "dim")
        rows.append(
            (
                (str(info["name"]), ""),
                (str(info.get("kind", "")), ""),
                (state.upper(), STATE_STYLES.get(state, "")),
                shown_url,
                (age(info.get("created_at"), now), ""),
            )
        )
    return rows


def render_table(
    infos: Iterable[Mapping[str, Any]],
    *,
    width: int = PIPE_WIDTH,
    colour: bool = False,
    no_color: bool = False,
    now: datetime | None = None,
) -> str:
    """The table as text, every line ending in a newline. ``colour`` adds ANSI styles
    (``no_color``: bold and dim only); NAME folds when the table is wider than ``width``."""
    cells = [tuple((name, "bold") for name in HEADERS), *table_rows(infos, now)]
    widths = [max(cell_len(row[i][0]) for row in cells) for i in range(len(HEADERS))]
    rest = sum(widths[1:]) + len(_GAP) * (len(HEADERS) - 1)
    widths[0] = max(len(HEADERS[0]), min(widths[0], width - rest))  # the header never folds
    lines = []
    for row in cells:
        names = _fold(row[0][0], widths[0])
        for index, name in enumerate(names):
            parts = [(name, row[0][1])]
            parts += [cell if index == 0 else ("", "") for cell in row[1:]]
            lines.append(_line(parts, widths, colour, no_color))
    return "".join(lines)


def write_table(infos: Iterable[Mapping[str, Any]], stream: IO[str] | None = None) -> None:
    """Print the table on ``stream`` (stdout): styled and fitted to a terminal, plain in a pipe."""
    stream = stream or sys.stdout
    env = os.environ
    terminal = _isatty(stream) or bool(env.get("FORCE_COLOR"))
    if "COLUMNS" in env and env["COLUMNS"].isdigit():
        width = int(env["COLUMNS"])
    elif terminal:
        width = os.get_terminal_size(stream.fileno()).columns if _isatty(stream) else 80
    else:
        width = PIPE_WIDTH
    colour = terminal and env.get("TERM") != "dumb"
    text = render_table(infos, width=width, colour=colour, no_color=bool(env.get("NO_COLOR")))
    stream.write(text)
    stream.flush()


def cell_len(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide characters two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(_char_len(char) for char in text)


def _char_len(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _fold(text: str, width: int) -> list[str]:
    """``text`` cut into pieces of at most ``width`` columns (one piece when it fits)."""
    if cell_len(text) <= width:
        return [text]
    pieces, piece, used = [], "", 0
    for char in text:
        size = _char_len(char)
        if used + size > width and piece:
            pieces.append(piece)
            piece, used = "", 0
        piece += char
        used += size
    return [*pieces, piece]


def _line(parts: list[tuple[str, str]], widths: list[int], colour: bool, no_color: bool) -> str:
    """One table line: cells padded to their column (AGE to the right), two spaces apart."""
    cells = []
    for index, ((text, style), column) in enumerate(zip(parts, widths, strict=True)):
        pad = " " * (column - cell_len(text))
        last = index == len(widths) - 1
        styled = _styled(text, style, no_color) if colour and text else text
        cells.append(pad + styled if last else styled + pad)
    return _GAP.join(cells) + "\n"


def _styled(text: str, style: str, no_color: bool) -> str:
    words = [word for word in style.split() if not (no_color and word in _COLOURS)]
    codes = ";".join(_SGR[word] for word in words if word in _SGR)
    return f"\x1b[{codes}m{text}\x1b[0m" if codes else text


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or fake stream
        return False
