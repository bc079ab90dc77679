"""Storage: everything that knows which engine it runs on.

- ``unit``: ``Store`` and ``Collections``, the unit of work the rest of the app sees;
- ``schema``: collections, indexes, the data model's version, ``db init``;
- ``mongo``: ``MongoStore``, a replica set through one MongoClient;
- ``embedded``: ``EmbeddedStore`` and its engine (mongomock, in this process);
- ``idempotency``: keys and their recorded outcomes;
- ``tenancy``: the one layer every read and write of a tenant's books goes through.

One store per process, made in ``init_app``: the engine in ``app.extensions["storage"]``
(storage's own and the health checks' only), every tenant's books in
``app.extensions["store"]`` (``AcrossTenants``: background work binds itself to a tenant
with ``.tenant(id)``); a request's own tenant is ``flask.g.store`` (app/web/auth.py).
Nothing here imports the ledger: what a new database must hold (the system
accounts) comes in as a ``schema.Seed``.
"""
import sys

import click

from app.storage import schema, tenancy
from app.storage.schema import Seed

__all__ = ["Seed", "init_app", "open_store"]


def open_store(config, seed=schema.NO_SEED):
    """Connect to MongoDB when MONGO_URI is set, else open (and initialise) the embedded engine."""
    if config["MONGO_URI"]:
        from app.storage import mongo
        return mongo.connect(config, schema.COLLECTIONS)
    from app.storage import embedded
    store = embedded.open_store(config["MONGO_DB"], schema.COLLECTIONS)
    schema.initialise(store, config["IDEMPOTENCY_TTL_S"], config["EVENTS_TTL_S"], seed)
    embedded.bound_idempotency(store, config["IDEMPOTENCY_MAX_PER_SCOPE"])
    return store


def _check_at_boot(app, store, seed):
    """A database that outlives the process: refuse to serve it unless `db init` has prepared it.

    A console command (``db init`` above all) loads the app inside a click context:
    there the problems are only printed, so the command can go on and fix them.
    """
    problems, warnings = schema.check_initialised(store, app.config["IDEMPOTENCY_TTL_S"],
                                                  app.config["EVENTS_TTL_S"], seed)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not problems:
        return
    message = (f"database {app.config['MONGO_DB']!r} is not initialised for this version: "
               + "; ".join(problems) + ". Run `flask --app app db init` (compose: the init service).")
    if click.get_current_context(silent=True) is not None:
        print(f"warning: {message}", file=sys.stderr)
        return
    store.close()
    raise RuntimeError(message)


def init_app(app, seed=schema.NO_SEED):
    store = app.extensions["storage"] = open_store(app.config, seed)
    if not store.in_process:
        _check_at_boot(app, store, seed)
    app.extensions["store"] = tenancy.AcrossTenants(store)
