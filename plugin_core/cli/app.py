"""The ``outlive`` commands: argument mapping onto plugin_core's public functions, nothing more.

Every behaviour (idempotent start, waiting, stopping the tree, deleting) lives in
:mod:`plugin_core.lifecycle`; a command loads its input, calls one core function and
hands the result to :mod:`plugin_core.cli.views`. :class:`OutliveGroup` is the process
boundary: it turns any :class:`~plugin_core.errors.OutliveError` into a clear message
and an exit code, an OS error about a file (``OUTLIVE_HOME``, the registry, a definition)
into one line naming the file, and anything else into one line and a hint to rerun with
``--debug`` for the traceback: a user never sees a traceback they did not ask for.

Exit codes: 0 ok, 1 other error, 2 bad input (usage, definition file, settings),
3 no such service, 4 the service did not become (or stay) what was asked,
130 interrupted.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import click

from plugin_core.cli import listing
from plugin_core.errors import ConfigError, LifecycleError, OutliveError, ServiceNotFoundError
from plugin_core.model.state import ServiceState

if TYPE_CHECKING:
    from plugin_core.cli import views as views  # re-exported (lazily, below) for watching.py
    from plugin_core.cli.views import ProgressView
    from plugin_core.orphans import OrphanProcesses
    from plugin_core.registry.store import ServiceRegistry
    from plugin_core.service import BaseService

EXIT_ERROR, EXIT_BAD_INPUT, EXIT_NOT_FOUND, EXIT_NOT_ACTIVE = 1, 2, 3, 4


def _lazy_module(name: str) -> ModuleType:
    """``name`` imported on its first attribute access (the stdlib's ``LazyLoader`` recipe).

    The views pull in rich, which costs more than the rest of ``outlive --help`` together;
    a command imports it only when it prints.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


if not TYPE_CHECKING:
    views = _lazy_module("plugin_core.cli.views")


def escape(text: str) -> str:
    """rich's markup escape, imported on first use (rich is only loaded to print)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def exit_code_for(exc: OutliveError) -> int:
    """The documented exit code for an error, so scripts can tell "fix your file" from "wait"."""
    if isinstance(exc, ServiceNotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, ConfigError):
        return EXIT_BAD_INPUT
    if isinstance(exc, LifecycleError):
        return EXIT_NOT_ACTIVE
    return EXIT_ERROR


class DocumentedArgument(click.Argument):
    """A positional argument with a help line (click takes ``help`` on arguments only from 8.5)."""

    def __init__(self, param_decls: list[str], help: str | None = None, **attrs: Any) -> None:
        super().__init__(param_decls, **attrs)
        self.help = help


class OutliveCommand(click.Command):
    """A command whose help lists its arguments under "Positional arguments", as click 8.5 and
    later do by themselves; older clicks list options only."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not hasattr(click.Command, "format_arguments"):
            rows = [
                (param.human_readable_name, param.help)
                for param in self.get_params(ctx)
                if isinstance(param, DocumentedArgument) and param.help
            ]
            if rows:
                with formatter.section("Positional arguments"):
                    formatter.write_dl(rows)
        super().format_options(ctx, formatter)


class OutliveGroup(click.Group):
    """The one place where outlive's errors become messages and exit codes (no tracebacks)."""

    command_class = OutliveCommand

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands in the order they are defined (the order of a day's work), not sorted."""
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutliveError as exc:
            views.show_error(exc)
            raise click.exceptions.Exit(exit_code_for(exc)) from None
        except KeyboardInterrupt:
            views.say("[dim]interrupted[/]")
            raise click.exceptions.Exit(130) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors and exits: click reports them itself
        except OSError as exc:
            if _debug(ctx):
                raise
            views.say(f"[bold red]error:[/] {escape(_os_error_line(exc))}")
            raise click.exceptions.Exit(EXIT_ERROR) from None
        except Exception as exc:  # the last resort: one line, never a traceback unasked
            if _debug(ctx):
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            views.say(
                f"[bold red]error:[/] unexpected {type(exc).__name__}"
                f"{': ' + escape(first) if first else ''} "
                "(rerun with --debug for the traceback, and please report it)"
            )
            raise click.exceptions.Exit(EXIT_ERROR) from None


def _debug(ctx: click.Context) -> bool:
    """``--debug`` was given: let an unexpected error's traceback through."""
    options = ctx.find_root().obj
    return isinstance(options, CliOptions) and options.debug


def _os_error_line(exc: OSError) -> str:
    """An OS error as one line naming the file and what to do."""
    name = exc.filename if exc.filename is not None else ""
    other = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    what = exc.strerror or str(exc)
    where = f"{name}{other}: " if name else ""
    return f"{where}{what}. Check that the path exists and that you may use it."


ON_CHANGE: dict[str, Literal["restart", "fail"]] = {"restart": "restart", "fail": "fail"}
"""What ``start`` may do when a service of that name runs with a different config."""


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """Answer ``--version`` before any command is required."""
    if value and not ctx.resilient_parsing:
        from plugin_core import __version__

        click.echo(f"outlive {__version__}")
        ctx.exit()


class CliOptions(NamedTuple):
    """The global options, kept on the root context for every command."""

    registry: str | None = None
    debug: bool = False


@click.group(
    cls=OutliveGroup,
    name="outlive",
    epilog="Exit codes: 0 ok, 1 other error, 2 bad input, definition file or setting, "
    "3 no such service, 4 the service did not become (or stay) active, 130 interrupted. "
    "--debug shows the traceback of an unexpected error.",
    no_args_is_help=True,
    context_settings={"show_default": True},
)
@click.option(
    "--registry",
    metavar="URL",
    default=None,
    show_default=False,
    help="Registry URL (any SQLAlchemy URL). Default: $OUTLIVE_REGISTRY_URL, "
    "else SQLite in $OUTLIVE_HOME.",
)
@click.option(
    "--version",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_print_version,
    help="Print the version and exit.",
)
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.pass_context
def app(ctx: click.Context, registry: str | None, debug: bool) -> None:
    """Start, track, health-check and stop services that outlive the run that started them."""
    ctx.obj = CliOptions(registry=registry, debug=debug)


json_flag = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON on stdout, for scripts."
)
name_arg = click.argument(
    "name", metavar="NAME", cls=DocumentedArgument, help="Service name (or uuid)."
)
file_arg = click.argument(
    "file",
    metavar="FILE",
    cls=DocumentedArgument,
    type=click.Path(path_type=Path),
    help="Service definition, YAML or JSON (type + config).",
)


def timeout_option(default: float | None, help: str) -> Callable[[Any], Any]:
    """``--timeout SECONDS`` (never negative), as start, wait, stop and update take it."""
    return click.option("--timeout", type=click.FloatRange(min=0), default=default, help=help)


# -- shared plumbing ---------------------------------------------------------------------------


def _registry(ctx: click.Context) -> ServiceRegistry:
    """The registry chosen by ``--registry`` (or the default one), built on first use."""
    from plugin_core.registry.store import ServiceRegistry

    options = ctx.find_root().obj
    return ServiceRegistry(options.registry if isinstance(options, CliOptions) else None)


def _load(file: Path) -> BaseService:
    """A service from a definition file; a bad file's error names the file."""
    from plugin_core.definitions import load_service

    if not file.is_file():
        raise ConfigError(
            f"{file}: no such file (give the path of a YAML or JSON service definition)"
        )
    try:
        return load_service(file)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None


def _info(service: BaseService) -> dict[str, Any]:
    from plugin_core.snapshots import service_info

    return service_info(service)


def _where(service: BaseService) -> str:
    url = service.get_prediction_url()
    return f" at [link={url}]{escape(url)}[/link]" if url else ""


@contextmanager
def _live(view: ProgressView, enabled: bool) -> Iterator[None]:
    """Show ``view`` on stderr while the block runs (transient: the result line replaces it)."""
    if not enabled:
        yield
        return
    from rich.live import Live

    with Live(view, console=views.err_console(), refresh_per_second=8, transient=True):
        yield


def _progress_callback(view: ProgressView) -> Callable[[BaseService, float], None]:
    """Feed ``wait_for_service``'s observations into the live view."""

    def on_progress(service: BaseService, _elapsed: float) -> None:
        status = service.status
        detail = status.last_error if status.state == ServiceState.ERROR else status.last_probe
        view.update(status.state.value, detail)

    return on_progress


_START_VERBS = {
    "started": "started and is active",
    "reused": "was already running (reused) and is active",
    "restarted": "restarted with the new definition and is active",
}
"""What ``outlive start`` says for the event the lifecycle reported first."""


def _report_active(service: BaseService, verb: str, elapsed: float | None = None) -> None:
    took = f" in {elapsed:.1f}s" if elapsed is not None else ""
    name = escape(service.config.service_name)
    views.say(f"[green]✓[/] {name} {verb}{took}{_where(service)}")


# -- commands ----------------------------------------------------------------------------------


@app.command("list")
@json_flag
@click.pass_context
def list_services(ctx: click.Context, as_json: bool) -> None:
    """List registered services with their observed state, URL and age."""
    from plugin_core.cli.rows import Fallback, fast_listing

    registry = _registry(ctx)
    try:
        fast = fast_listing(registry)  # from the rows, by the models' own rules
    except Fallback as why:
        if _debug(ctx):
            views.say(f"[dim]listing through the service models: {escape(str(why))}[/]")
    else:
        _print_listing(fast.infos, as_json)
        _say_orphans(fast.orphans)
        return
    from plugin_core.lifecycle import find_services

    services = find_services(registry=registry)
    _print_listing([_info(service) for service in services], as_json)
    for corrupt in registry.corrupt_records:
        views.show_error(corrupt)
    _warn_orphans(registry)


def _print_listing(infos: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        listing.print_json(infos)
    elif infos:
        listing.write_table(infos)
    else:
        views.say("no services registered (start one with `outlive start FILE`)")


def _warn_orphans(registry: ServiceRegistry, uuid: str | None = None) -> None:
    """Say which marked processes here no record accounts for (``outlive prune`` stops them)."""
    from plugin_core.orphans import find_orphans

    _say_orphans(find_orphans(registry), uuid)


def _say_orphans(orphans: list[OrphanProcesses], uuid: str | None = None) -> None:
    for orphan in orphans:
        if uuid is None or orphan.uuid == uuid:
            pids = ", ".join(map(str, orphan.pids))
            views.say(
                f"[yellow]![/] unrecorded process(es) {pids} of service {orphan.uuid} run here "
                f"({escape(orphan.reason)}); `outlive prune` stops them"
            )


@app.command()
@name_arg
@json_flag
@click.pass_context
def status(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show one service in detail: states, URL, probe, error, process and files."""
    from plugin_core.lifecycle import get_service

    service = get_service(name, registry=_registry(ctx))
    info = _info(service)
    if as_json:
        listing.print_json(info)
        return
    tail = service.log_tail(10) if service.status.state == ServiceState.ERROR else []
    views.out_console().print(views.status_view(info, tail))
    _warn_orphans(service.registry or _registry(ctx), str(service.uuid))


@app.command()
@name_arg
@click.option("--tail", "-n", type=click.IntRange(min=0), default=100, help="Lines from the end.")
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing new lines until the service ends."
)
@click.pass_context
def logs(ctx: click.Context, name: str, tail: int, follow: bool) -> None:
    """Print the service's log (stdout and stderr of its process)."""
    from plugin_core.lifecycle import get_service

    service = get_service(name, registry=_registry(ctx), refresh=False)
    try:
        for line in service.get_logs(follow=follow, tail=tail):
            click.echo(line)
    except KeyboardInterrupt:  # Ctrl-C is how one ends --follow: not an error
        return


@app.command()
@file_arg
@timeout_option(None, "Seconds to wait for ACTIVE. Default: the probe policy's budget.")
@click.option(
    "--on-change",
    type=click.Choice(list(ON_CHANGE)),
    default="restart",
    help="If it already runs with another config: restart it, or fail.",
)
@json_flag
@click.pass_context
def start(
    ctx: click.Context, file: Path, timeout: float | None, on_change: str, as_json: bool
) -> None:
    """Start the service defined in FILE (or reuse it if already running) and wait until ACTIVE."""
    from plugin_core.events import EventRecorder
    from plugin_core.lifecycle import start_service

    service = _load(file)
    view = views.ProgressView(service.config.service_name, verb="starting")
    recorder = EventRecorder()
    with _live(view, enabled=not as_json):
        started = start_service(
            service,
            registry=_registry(ctx),
            timeout=timeout,
            on_change=ON_CHANGE[on_change],
            on_progress=_progress_callback(view),
            on_event=recorder,
        )
    if as_json:
        listing.print_json({**_info(started), "events": recorder.outcomes})
    else:
        _report_active(started, _START_VERBS.get(recorder.first or "", "is active"), view.elapsed)


@app.command()
@name_arg
@timeout_option(300.0, "Seconds to wait.")
@json_flag
@click.pass_context
def wait(ctx: click.Context, name: str, timeout: float, as_json: bool) -> None:
    """Wait until the service is ACTIVE, showing its state, elapsed time and last probe."""
    from plugin_core.lifecycle import wait_for_service

    view = views.ProgressView(name)
    with _live(view, enabled=not as_json):
        service = wait_for_service(
            name, registry=_registry(ctx), timeout=timeout, on_progress=_progress_callback(view)
        )
    if as_json:
        listing.print_json(_info(service))
    else:
        _report_active(service, "is active", view.elapsed)


@app.command()
@name_arg
@timeout_option(10.0, "Grace period before SIGKILL, in seconds.")
@click.option("--force", is_flag=True, help="SIGKILL at once, no grace.")
@json_flag
@click.pass_context
def stop(ctx: click.Context, name: str, timeout: float, force: bool, as_json: bool) -> None:
    """Stop the service's whole process tree (SIGTERM, grace period, then SIGKILL)."""
    from plugin_core.lifecycle import stop_service

    service = stop_service(name, registry=_registry(ctx), timeout=timeout, force=force)
    if as_json:
        listing.print_json(_info(service))
        return
    state = service.status.state.value
    views.say(f"[green]✓[/] {escape(service.config.service_name)} stopped (state: {state.upper()})")


@app.command()
@name_arg
@file_arg
@timeout_option(None, "Seconds to wait for ACTIVE after the restart.")
@click.pass_context
def update(ctx: click.Context, name: str, file: Path, timeout: float | None) -> None:
    """Replace the service's definition with FILE; a running service is restarted with it."""
    from plugin_core.lifecycle import update_service

    replacement = _load(file)
    if replacement.config.service_name != name:
        raise ConfigError(
            f"{file} defines service {replacement.config.service_name!r}, not {name!r}: "
            "the names must match (to rename, delete the old one and start the new one)"
        )
    service = update_service(name, replacement, registry=_registry(ctx), timeout=timeout)
    if service.admin_state == ServiceState.ACTIVE:
        _report_active(service, "updated and restarted; active")
    else:
        views.say(f"[green]✓[/] {escape(name)} updated (not running: applies at its next start)")


@app.command()
@name_arg
@click.option("--force", is_flag=True, help="Kill without grace; also removes a corrupted record.")
@click.pass_context
def delete(ctx: click.Context, name: str, force: bool) -> None:
    """Stop the service if it runs, then remove its record and runtime files."""
    from plugin_core.lifecycle import delete_service

    delete_service(name, registry=_registry(ctx), force=force)
    views.say(f"[green]✓[/] {escape(name)} deleted")


@app.command()
@click.option("--dry-run", is_flag=True, help="Only say what would go.")
@json_flag
@click.pass_context
def prune(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Delete records of INACTIVE and ERROR services, stop processes no record accounts for,
    and sweep orphaned runtime directories."""
    from plugin_core.prune import prune_services

    report = prune_services(registry=_registry(ctx), dry_run=dry_run)
    if as_json:
        listing.print_json(
            {
                "deleted": report.deleted,
                "swept_dirs": report.swept_dirs,
                "kept_dirs": [{"path": p, "reason": r} for p, r in report.kept_dirs],
                "orphans": [
                    {"uuid": o.uuid, "pids": o.pids, "reason": o.reason} for o in report.orphans
                ],
                "dry_run": dry_run,
            }
        )
        return
    for orphan in report.orphans:
        pids = ", ".join(map(str, orphan.pids))
        verb = "would stop" if dry_run else "stopped"
        views.say(
            f"{verb} unrecorded process(es) {pids} of service {orphan.uuid}: {escape(orphan.reason)}"
        )
    names = report.deleted
    verb = "would delete" if dry_run else "deleted"
    views.say(f"{verb} {len(names)} record(s){': ' + escape(', '.join(names)) if names else ''}")
    swept = report.swept_dirs
    views.say(f"{'would sweep' if dry_run else 'swept'} {len(swept)} orphaned runtime dir(s)")
    for path, reason in report.kept_dirs:
        views.say(f"[dim]kept {escape(path)}: {escape(reason)}[/]")


def main() -> None:
    """Console-script entry point (``outlive``)."""
    app(prog_name="outlive", terminal_width=_help_width())


def _help_width() -> int:
    """The width click's help formatter picks by itself (the terminal's columns, at most 80,
    less 2, at least 50), found without ``shutil.get_terminal_size``: shutil imports the
    compression modules, a tenth of what ``outlive --help`` costs otherwise."""
    import os

    columns = os.environ.get("COLUMNS", "")
    if not (columns.isdigit() and int(columns) > 0):
        try:
            stream = sys.__stdout__
            columns = str(os.get_terminal_size(stream.fileno()).columns if stream else 80)
        except (ValueError, OSError):
            columns = "80"
    return max(min(int(columns) or 80, 80) - 2, 50)


__all__ = ["app", "exit_code_for", "main"]
