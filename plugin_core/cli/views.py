"""How the CLI looks: the status view, the live waiting view and error messages (with rich;
the ``outlive list`` table and JSON output are in :mod:`plugin_core.cli.listing`, without).

Nothing here talks to the registry or a service; commands in :mod:`plugin_core.cli.app`
fetch plain data (``service_info`` dicts, exceptions) and hand it over, so the look can
change without touching behaviour. Data goes to stdout (tables, JSON, log lines) and
messages to stderr, so ``outlive list --json | jq`` never sees a progress line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from plugin_core.cli.listing import PIPE_WIDTH, STATE_STYLES, age
from plugin_core.errors import LifecycleError, OutliveError, describe_exit


def out_console() -> Console:
    """Console for data (stdout). Made per call so test runners' swapped streams are used.

    Piped into ``grep`` or a file there is no terminal width to respect, so rows are never
    folded: one service, one line.
    """
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=PIPE_WIDTH)
    return console


def err_console() -> Console:
    """Console for messages and live views (stderr); long lines are never broken mid-message."""
    return Console(stderr=True, soft_wrap=True)


def say(message: str) -> None:
    """One line for a person, on stderr. ``message`` may use rich markup."""
    err_console().print(message, highlight=False)


def state_text(state: str | None) -> Text:
    """The state in capitals and in a colour that reads at a glance."""
    value = state or "unknown"
    return Text(value.upper(), style=STATE_STYLES.get(value, ""))


def status_view(info: Mapping[str, Any], log_tail: list[str]) -> RenderableType:
    """``outlive status NAME``: every fact about one service, the log tail when it failed."""
    state = state_text(info.get("state"))
    state.append(f"  (wanted: {str(info.get('admin_state', '')).upper()})", style="dim")
    rows: list[tuple[str, Any]] = [
        ("name", info.get("name")),
        ("uuid", info.get("uuid")),
        ("kind", info.get("kind")),
        ("state", state),
        ("host", info.get("host")),
        ("observed", info.get("observed")),
        ("url", info.get("prediction_url") or info.get("url")),
        ("health check", info.get("healthcheck_url")),
        ("last probe", info.get("last_probe")),
        ("last error", Text(info.get("last_error") or "", style="red")),
        ("exit", describe_exit(info["exit_code"]) if info.get("exit_code") is not None else None),
        ("pid", info.get("pid")),
        ("restarts", info.get("restarts") or None),
        ("runtime dir", info.get("runtime_path")),
        ("created", _created(info.get("created_at"))),
    ]
    shown = [(key, value) for key, value in rows if value is not None and str(value) != ""]
    width = max(len(key) for key, _ in shown) + 2
    facts = Text("\n").join(
        Text.assemble((key.ljust(width), "bold"), value if isinstance(value, Text) else str(value))
        for key, value in shown
    )
    if not log_tail:
        return facts
    return Group(facts, Text("\nlast log lines:", style="bold"), _log_lines(log_tail))


def _created(created_at: str | None) -> str | None:
    if not created_at:
        return None
    return f"{created_at[:19].replace('T', ' ')} UTC ({age(created_at)} ago)"


def _log_lines(lines: Iterable[str]) -> Text:
    return Text("\n".join(f"  {line}" for line in lines), style="dim")


class ProgressView:
    """What the live view shows while a service comes up: state, elapsed time, last probe.

    Commands update it from ``wait_for_service``'s ``on_progress`` callback; rich's refresh
    thread renders it several times a second, so the clock ticks between (backed-off) probes.
    """

    def __init__(self, name: str, verb: str = "waiting for") -> None:
        self.name = name
        self.verb = verb
        self.state: str | None = None
        self.last_probe = ""
        self.started = time.monotonic()
        from rich.spinner import Spinner  # only a live wait shows it

        self._spinner = Spinner("dots", style="cyan")

    def update(self, state: str, last_probe: str) -> None:
        """Record the latest observation (called from the waiting loop)."""
        self.state = state
        self.last_probe = last_probe

    @property
    def elapsed(self) -> float:
        """Seconds since the view was created (monotonic)."""
        return time.monotonic() - self.started

    def __rich__(self) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        grid.add_row(
            self._spinner,
            Text(f"{self.verb} {self.name}", style="bold"),
            state_text(self.state) if self.state else Text("…", style="dim"),
            Text(f"{self.elapsed:5.1f}s", style="cyan"),
        )
        if not self.last_probe:
            return grid
        return Group(grid, Text(f"  last probe: {self.last_probe}", style="dim"))


def error_view(exc: OutliveError, context: str = "") -> RenderableType:
    """An error as a person should read it: the reason first, then the facts, no traceback."""
    prefix = f"{escape(context)}: " if context else ""
    if not isinstance(exc, LifecycleError):
        head, _, rest = str(exc).partition("\n")
        text = Text.from_markup(f"[bold red]error:[/] {prefix}")
        text.append(head)
        return Group(text, Text(rest, style="red")) if rest else text
    text = Text.from_markup(f"[bold red]error:[/] {prefix}")
    text.append(exc.reason)
    parts: list[RenderableType] = [text]
    if exc.last_probe:
        parts.append(Text(f"last health check: {exc.last_probe}", style="yellow"))
    if exc.exit_code is not None:
        parts.append(Text(f"exit: {describe_exit(exc.exit_code)}", style="yellow"))
    if exc.log_tail:
        parts += [
            Text(f"last {len(exc.log_tail)} log lines:", style="bold"),
            _log_lines(exc.log_tail),
        ]
    return Group(*parts)


def show_error(exc: OutliveError, context: str = "") -> None:
    """Print :func:`error_view` on stderr."""
    err_console().print(error_view(exc, context), highlight=False)
