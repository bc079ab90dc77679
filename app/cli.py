"""Console commands: ``flask --app app db init``, ``ledger verify|sweep``, ``events dispatch``."""
import json
import signal
import sys
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from app import audit, errors, render
from app.events import dispatch
from app.ledger import seed, sweeper
from app.storage import schema

ledger_cli = AppGroup("ledger", help="Check the books; write down what time decided.")
events_cli = AppGroup("events", help="Deliver events: webhooks and e-mail.")
db_cli = AppGroup("db", help="Prepare the database.")
SNAPSHOT_TOO_OLD_EXIT = 3


@db_cli.command("init")
def init():
    """Indexes, system accounts and the schema version; run once per deployment (idempotent)."""
    store = current_app.extensions["storage"]
    ttls = current_app.config["IDEMPOTENCY_TTL_S"], current_app.config["EVENTS_TTL_S"]
    schema.initialise(store, *ttls, seed=seed.SEED)
    problems, warnings = schema.check_initialised(store, *ttls, seed=seed.SEED)
    for line in problems + warnings:
        click.echo(f"still wrong: {line}", err=True)
    if problems or warnings:
        raise SystemExit(1)
    click.echo(f"database initialised: {len(schema.declared_indexes(0))} indexes, system accounts, "
               f"schema version {schema.SCHEMA_VERSION} ({store.engine})")


@ledger_cli.command("verify")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=audit.BATCH_SIZE,
              show_default=True, help="Documents fetched per round trip.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, like GET /audit.")
def verify(batch_size, as_json):
    """Audit wallets, journal and transfers; exit 1 if any rule is broken, 3 if it ran out of time."""
    store = current_app.extensions["store"]
    if store.in_process:
        # This process's embedded engine is its own, new and empty: "the books balance"
        # would be true of nothing. The server's data lives inside the server.
        raise click.ClickException(
            "ledger verify reads the database named by MONGO_URI; without it, it would audit "
            "an empty in-memory database of its own. To audit a running server on the embedded "
            "engine, ask it: GET /audit with the operator token "
            "(curl -H \"Authorization: Bearer $OPERATOR_TOKEN\" http://127.0.0.1:8080/audit).")
    try:
        result = render.platform_audit(*audit.verify_platform(store, batch_size=batch_size))
    except errors.SnapshotTooOld as exc:
        click.echo(f"NOT CHECKED: {exc.detail}", err=True)
        sys.exit(SNAPSHOT_TOO_OLD_EXIT)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print_report(store.engine, result)
    if not result["ok"]:
        raise SystemExit(1)


@ledger_cli.command("sweep")
@click.option("--interval", "interval_s", type=click.FloatRange(0.05, 3600), default=None,
              help="Seconds between sweeps  [default: SWEEP_INTERVAL_S, 1]")
@click.option("--once", is_flag=True, help="Sweep once, print what was written down, and exit.")
def sweep(interval_s, once):
    """Write down expired holds (and every other sweeper step), in a loop."""
    store = current_app.extensions["store"]
    if once:
        click.echo(json.dumps(sweeper.sweep(store)))
        return
    # The compose service runs this without --interval: the environment sets it, as for the thread.
    interval_s = interval_s or current_app.config["SWEEP_INTERVAL_S"]
    click.echo(f"sweeping every {interval_s} s on the {store.engine} engine", err=True)
    sweeper.run(store, interval_s, threading.Event())


def _print_report(engine, result):
    click.echo(f"engine: {engine}")
    click.echo(f"wallets: {result['wallets']}  entries: {result['entries']}  "
               f"money in: {result['total_deposited']}  money held: {result['total_held']}")
    for violation in result["violations"]:
        click.echo(f"VIOLATION {violation['rule']} {violation['id']}: {violation['detail']}")
    hidden = result["violation_count"] - len(result["violations"])
    if hidden:
        click.echo(f"... and {hidden} more")
    click.echo("OK: the books balance" if result["ok"]
               else f"FAILED: {result['violation_count']} violation(s)")


@events_cli.command("dispatch")
def dispatch_events():
    """Fan events out and deliver them until stopped (SIGTERM or Ctrl-C); run one per host or more."""
    app = current_app._get_current_object()
    if app.extensions["store"].in_process:
        raise click.ClickException("the embedded engine keeps its data in the server process: "
                                   "`make run` runs the dispatcher there (EVENTS_DISPATCHER_THREAD=1)")
    dispatcher = dispatch.Dispatcher(app.extensions["store"], app.config, app.extensions["dispatch_steps"])
    signal.signal(signal.SIGTERM, lambda *_: dispatcher.stop())
    click.echo(f"dispatcher {dispatcher.name} running", err=True)
    try:
        dispatcher.run()
    except KeyboardInterrupt:
        pass


def init_app(app):
    app.cli.add_command(ledger_cli)
    app.cli.add_command(events_cli)
    app.cli.add_command(db_cli)
