"""``outlive events`` and ``outlive watch``: what happened to services, and who gets told.

Argument mapping only: the events log, the watcher and the sinks live in
:mod:`plugin_core.events` and :mod:`plugin_core.watch`.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer

from plugin_core.cli.app import _registry, app, views  # views: lazy, imports rich when used


@app.command()
def events(
    name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="Only this service (name or uuid).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events (Ctrl-C ends).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print what happened to services: started, reused, restarted, active, died, ..."""
    from plugin_core.events import EventLog, ServiceEvent

    log = EventLog()

    def show(event: ServiceEvent) -> None:
        if as_json:  # one JSON object per line, so --follow streams
            typer.echo(json.dumps(event.to_dict()))
        else:
            typer.echo(f"{event.at}  {event.describe()}  [{event.origin}]")

    for event in log.read(name):
        show(event)
    if follow:
        try:
            for event in log.follow(name):
                show(event)
        except KeyboardInterrupt:  # Ctrl-C is how one ends --follow: not an error
            return


@app.command()
def watch(
    ctx: typer.Context,
    period: Annotated[
        float, typer.Option(min=0.05, help="Seconds between observations of every service.")
    ] = 2.0,
    webhook: Annotated[
        list[str] | None, typer.Option(metavar="URL", help="POST each event as JSON here.")
    ] = None,
    webhook_timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per POST.")] = 5.0,
    webhook_retries: Annotated[int, typer.Option(min=0, help="Retries of a failed POST.")] = 3,
    prefect: Annotated[
        bool, typer.Option("--prefect", help="Emit outlive.service.* Prefect events.")
    ] = False,
    sink: Annotated[
        list[str] | None, typer.Option(metavar="MODULE:NAME", help="Any callable sink.")
    ] = None,
    as_service: Annotated[
        bool,
        typer.Option("--service", help="Run this watcher as an outlive service and return."),
    ] = False,
) -> None:
    """Watch every running service; report died / gave-up / back up once, to the sinks."""
    from plugin_core.watch import PREFECT_SINK, LogSink, Sink, Watcher, WebhookSink, load_sink

    if as_service:
        _start_as_service(ctx)
        return
    sinks: list[Sink] = [LogSink()]
    sinks += [
        WebhookSink(url, timeout=webhook_timeout, retries=webhook_retries) for url in webhook or []
    ]
    sinks += [load_sink(spec) for spec in [*(sink or []), *([PREFECT_SINK] if prefect else [])]]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    watcher = Watcher(registry=_registry(ctx), sinks=sinks)
    typer.echo(f"watching every {period:g}s; sinks: {', '.join(map(repr, sinks))}")
    sys.stdout.flush()
    try:
        watcher.run(period)
    except KeyboardInterrupt:
        return


def _start_as_service(ctx: typer.Context) -> None:
    """``outlive watch --service ARGS`` becomes the service ``outlive watch ARGS``."""
    from plugin_core.lifecycle import start_service
    from plugin_core.watch import watch_service

    args = [arg for arg in sys.argv[sys.argv.index("watch") + 1 :] if arg != "--service"]
    url = ctx.find_root().obj
    definition = watch_service(args, registry_url=url if isinstance(url, str) else None)
    service = start_service(definition, registry=_registry(ctx), timeout=30)
    views.say(f"[green]✓[/] {service.config.service_name} runs (`outlive logs outlive-watch`)")
