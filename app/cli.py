"""Console commands: ``flask --app app ledger verify`` and ``ledger sweep``."""
import json
import time

import click
from flask import current_app
from flask.cli import AppGroup

from app import audit, render
from app.ledger import sweeper

ledger_cli = AppGroup("ledger", help="Check the books.")


@ledger_cli.command("verify")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=audit.BATCH_SIZE,
              show_default=True, help="Documents fetched per round trip.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, like GET /audit.")
def verify(batch_size, as_json):
    """Audit wallets, journal and transfers; exit 1 if any rule is broken."""
    store = current_app.extensions["store"]
    if store.engine == "embedded":
        # This process's embedded engine is its own, new and empty: "the books balance"
        # would be true of nothing. The server's data lives inside the server.
        raise click.ClickException(
            "ledger verify reads the database named by MONGO_URI; without it, it would audit "
            "an empty in-memory database of its own. To audit a running server on the embedded "
            "engine, ask it: GET /audit with the operator token "
            "(curl -H \"Authorization: Bearer $OPERATOR_TOKEN\" http://127.0.0.1:8080/audit).")
    result = render.audit(audit.verify(store, batch_size=batch_size))
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print_report(store.engine, result)
    if not result["ok"]:
        raise SystemExit(1)


@ledger_cli.command("sweep")
@click.option("--every", "every_s", type=click.IntRange(0), default=0,
              help="Seconds between rounds; 0 (the default) sweeps once and exits.")
def sweep(every_s):
    """Write down what time has changed (expired payment requests); the sweeper process on MongoDB."""
    store = current_app.extensions["store"]
    if store.engine == "embedded":
        raise click.ClickException(
            "ledger sweep works on the database named by MONGO_URI; on the embedded engine the "
            "server sweeps its own data in a thread every SWEEP_INTERVAL_S seconds.")
    while True:
        for step, changed in sweeper.sweep(store).items():
            click.echo(f"{step}: {changed}")
        if not every_s:
            return
        time.sleep(every_s)


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


def init_app(app):
    app.cli.add_command(ledger_cli)
    store = app.extensions["store"]
    # Embedded: the data is in this process, so the sweeper must be too. Tests sweep by hand.
    if store.engine == "embedded" and app.config["SWEEP_INTERVAL_S"] and not app.testing:
        sweeper.start_thread(store, app.config["SWEEP_INTERVAL_S"])
