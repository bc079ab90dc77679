"""Console commands: ``flask --app app db init``, ``ledger verify`` and ``ledger sweep``."""
import json
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from app import audit, db, errors, render
from app.ledger import sweeper

ledger_cli = AppGroup("ledger", help="Check the books; write down what time decided.")
db_cli = AppGroup("db", help="Prepare the database.")
# `ledger verify`'s exit codes: 1 a rule is broken; this, the audit could not finish.
EXIT_AUDIT_INCOMPLETE = 3


@db_cli.command("init")
def init():
    """Build the indexes, the system accounts and the schema version (idempotent).

    On MongoDB, run it once per deployment and after each upgrade, as a user with dbAdmin
    (index builds, collMod); the API then starts with only readWrite and only checks.
    """
    store = current_app.extensions["store"]
    if store.engine == "embedded":
        click.echo("embedded engine: every process initialises its own in-memory database "
                   "at start; nothing to do")
        return
    ttl_s = current_app.config["IDEMPOTENCY_TTL_S"]
    missing = db.missing_indexes(store.collections, ttl_s)
    db.initialise(store, ttl_s)
    db.check_initialised(store, ttl_s)
    for problem in missing:
        click.echo(f"fixed: {problem}")
    click.echo(f"database {current_app.config['MONGO_DB']!r} is initialised: "
               f"{len(db.expected_indexes(ttl_s))} indexes, system accounts, schema version "
               f"{db.SCHEMA_VERSION}")


@ledger_cli.command("verify")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=audit.BATCH_SIZE,
              show_default=True, help="Documents fetched per round trip.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, like GET /audit.")
def verify(batch_size, as_json):
    """Audit wallets, journal and transfers; exit 1 if a rule is broken, 3 if it cannot finish."""
    store = current_app.extensions["store"]
    if store.engine == "embedded":
        # This process's embedded engine is its own, new and empty: "the books balance"
        # would be true of nothing. The server's data lives inside the server.
        raise click.ClickException(
            "ledger verify reads the database named by MONGO_URI; without it, it would audit "
            "an empty in-memory database of its own. To audit a running server on the embedded "
            "engine, ask it: GET /audit with the operator token "
            "(curl -H \"Authorization: Bearer $OPERATOR_TOKEN\" http://127.0.0.1:8080/audit).")
    try:
        result = render.audit(audit.verify(store, batch_size=batch_size))
    except errors.AuditSnapshotTooOld as exc:
        click.echo(f"INCOMPLETE: {exc.detail}", err=True)
        raise SystemExit(EXIT_AUDIT_INCOMPLETE)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print_report(store.engine, result)
    if not result["ok"]:
        raise SystemExit(1)


@ledger_cli.command("sweep")
@click.option("--interval", "interval_s", type=click.FloatRange(0.05, 3600), default=1.0,
              show_default=True, help="Seconds between sweeps.")
@click.option("--once", is_flag=True, help="Sweep once, print what was written down, and exit.")
def sweep(interval_s, once):
    """Write down expired holds (and every other sweeper step), in a loop."""
    store = current_app.extensions["store"]
    if once:
        click.echo(json.dumps(sweeper.sweep(store)))
        return
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


def init_app(app):
    app.cli.add_command(ledger_cli)
    app.cli.add_command(db_cli)
