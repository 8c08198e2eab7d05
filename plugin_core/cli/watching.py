"""``outlive events`` and ``outlive watch``: what happened to services, and who gets told.

Argument mapping only: the events log, the watcher and the sinks live in
:mod:`plugin_core.events` and :mod:`plugin_core.watch`.
"""

from __future__ import annotations

import sys

import click

# views is lazy: it imports rich when used
from plugin_core.cli.app import CliOptions, DocumentedArgument, _registry, app, views


@app.command()
@click.argument(
    "name",
    metavar="[NAME]",
    required=False,
    cls=DocumentedArgument,
    help="Only this service (name or uuid).",
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events (Ctrl-C ends).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def events(name: str | None, follow: bool, as_json: bool) -> None:
    """Print what happened to services: started, reused, restarted, active, died, ..."""
    import json

    from plugin_core.events import EventLog, ServiceEvent

    log = EventLog()

    def show(event: ServiceEvent) -> None:
        if as_json:  # one JSON object per line, so --follow streams
            click.echo(json.dumps(event.to_dict()))
        else:
            click.echo(f"{event.at}  {event.describe()}  [{event.origin}]")

    for event in log.read(name):
        show(event)
    if follow:
        try:
            for event in log.follow(name):
                show(event)
        except KeyboardInterrupt:  # Ctrl-C is how one ends --follow: not an error
            return


@app.command()
@click.option(
    "--period",
    type=click.FloatRange(min=0.05),
    default=2.0,
    help="Seconds between observations of every service.",
)
@click.option("--webhook", metavar="URL", multiple=True, help="POST each event as JSON here.")
@click.option(
    "--webhook-timeout", type=click.FloatRange(min=0.1), default=5.0, help="Seconds per POST."
)
@click.option(
    "--webhook-retries", type=click.IntRange(min=0), default=3, help="Retries of a failed POST."
)
@click.option("--prefect", is_flag=True, help="Emit outlive.service.* Prefect events.")
@click.option("--sink", metavar="MODULE:NAME", multiple=True, help="Any callable sink.")
@click.option(
    "--service",
    "as_service",
    is_flag=True,
    help="Run this watcher as an outlive service and return.",
)
@click.pass_context
def watch(
    ctx: click.Context,
    period: float,
    webhook: tuple[str, ...],
    webhook_timeout: float,
    webhook_retries: int,
    prefect: bool,
    sink: tuple[str, ...],
    as_service: bool,
) -> None:
    """Watch every running service; report died / gave-up / back up once, to the sinks."""
    import logging

    from plugin_core.watch import PREFECT_SINK, LogSink, Sink, Watcher, WebhookSink, load_sink

    if as_service:
        _start_as_service(ctx)
        return
    sinks: list[Sink] = [LogSink()]
    sinks += [WebhookSink(url, timeout=webhook_timeout, retries=webhook_retries) for url in webhook]
    sinks += [load_sink(spec) for spec in [*sink, *([PREFECT_SINK] if prefect else [])]]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    watcher = Watcher(registry=_registry(ctx), sinks=sinks)
    click.echo(f"watching every {period:g}s; sinks: {', '.join(map(repr, sinks))}")
    sys.stdout.flush()
    try:
        watcher.run(period)
    except KeyboardInterrupt:
        return


def _start_as_service(ctx: click.Context) -> None:
    """``outlive watch --service ARGS`` becomes the service ``outlive watch ARGS``."""
    from plugin_core.lifecycle import start_service
    from plugin_core.watch import watch_service

    args = [arg for arg in sys.argv[sys.argv.index("watch") + 1 :] if arg != "--service"]
    options = ctx.find_root().obj
    url = options.registry if isinstance(options, CliOptions) else None
    definition = watch_service(args, registry_url=url)
    service = start_service(definition, registry=_registry(ctx), timeout=30)
    views.say(f"[green]✓[/] {service.config.service_name} runs (`outlive logs outlive-watch`)")
