"""Storage: one client per process, the indexes, initialisation, and the two stores.

The unit of work is the only place where the two engines differ (``app.store.Store``
is the interface). On MongoDB (``app.mongo_store.MongoStore``) it is a multi-document
transaction that the driver retries on transient errors. On the embedded engine
(``EmbeddedStore``) it is a process-wide lock plus an undo log, so a failure part-way
leaves no trace.

Initialisation (indexes, system accounts, schema version) is ``initialise``: the
command ``flask --app app db init`` on MongoDB (it needs dbAdmin: building and
retiming indexes), done at start on the embedded engine. A server on MongoDB only
checks (``check_initialised``) and refuses to start, naming what is missing.
"""
import logging

import click
from pymongo import ASCENDING, DESCENDING, MongoClient, ReadPreference
from pymongo.errors import ConfigurationError, OperationFailure
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from app import embedded
from app.ledger import accounts
from app.embedded_store import EmbeddedStore
from app.mongo_store import MongoStore
from app.store import Store, UnitCollections

__all__ = ["COLLECTIONS", "EmbeddedStore", "MongoStore", "Store", "UnitCollections", "check_initialised",
           "create_indexes", "init_app", "initialise", "open_store", "record_schema_version"]
log = logging.getLogger(__name__)
COLLECTIONS = ("clients", "wallets", "system_accounts", "operations", "transfers", "idempotency",
               "events", "meta", "holds")
# The data model's version, recorded in meta at initialisation. 2: double-entry (system
# accounts, postings, held and available). No version-1 database was ever deployed.
SCHEMA_VERSION = 2
INDEX_OPTIONS_CONFLICT = 85  # an index with these keys exists with other options
INIT_COMMAND = "flask --app app db init"


def create_indexes(collections, idempotency_ttl_s):
    """Declare every index a query needs, each beside that query (idempotent on both engines).

    Every index costs every insert: one with no query is dropped (tests/test_indexes.py
    lists each with the query it serves).
    """
    # ledger.clients: sign-up's uniqueness and log-in's lookup by email.
    collections["clients"].create_index([("email_key", ASCENDING)], unique=True)
    # ledger.get_client_wallet: the wallet of a client (one per client).
    collections["wallets"].create_index([("client_id", ASCENDING)], unique=True)
    # list_operations (newest first by seq), statements' binary search by seq, the audit's
    # journal walk: all (wallet_id, seq); the unique key also refuses a doubled seq.
    collections["operations"].create_index(
        [("wallet_id", ASCENDING), ("seq", ASCENDING)], unique=True)
    # The audit walks the journal in transfer_id order to match entries with their transfer.
    collections["operations"].create_index([("transfer_id", ASCENDING)])
    # Holds: a payer's due holds (expiry before a debit, wallet reads, the sweeper and the
    # audit's held rule), and a wallet's holds newest first (GET /wallets/{id}/holds).
    collections["holds"].create_index(
        [("from_wallet_id", ASCENDING), ("status", ASCENDING), ("expires_at", ASCENDING)])
    collections["holds"].create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
    for party in ("from_wallet_id", "to_wallet_id"):
        collections["holds"].create_index(
            [(party, ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)])
    # idempotency.lookup: the key within its caller's scope.
    collections["idempotency"].create_index(
        [("scope", ASCENDING), ("key", ASCENDING)], unique=True)
    _ttl_index(collections["idempotency"], "created_at", idempotency_ttl_s)


def _ttl_index(collection, field, ttl_s):
    """A TTL index on ``field``; when IDEMPOTENCY_TTL_S changed since it was made, retime it."""
    try:
        collection.create_index([(field, ASCENDING)], expireAfterSeconds=ttl_s)
    except OperationFailure as exc:
        if exc.code != INDEX_OPTIONS_CONFLICT:
            raise
        # Same keys, other options: MongoDB refuses to re-create it, but collMod changes it in place
        # (collMod needs dbAdmin, which `db init` has and the API's readWrite user has not).
        collection.database.command("collMod", collection.name, index={
            "keyPattern": {field: 1}, "expireAfterSeconds": ttl_s})


def hosts_of(uri):
    """The host list of a MongoDB URI: no credentials or options, so it is safe to print."""
    authority = uri.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    return authority.rsplit("@", 1)[-1]


def mongo_collections(client, database_name):
    """The collections, read outside transactions at read concern "majority".

    "local" (the default) could show a balance or a statement line that a failover then
    rolls back. Transactions set their own ("snapshot"), as do snapshot sessions.
    """
    database = client.get_database(database_name, read_concern=ReadConcern("majority"),
                                   write_concern=WriteConcern("majority"))
    return {name: database[name] for name in COLLECTIONS}


def _connect_mongodb(config):
    uri = config["MONGO_URI"]
    client = MongoClient(uri, w="majority", readPreference="primary", tz_aware=False,
                         serverSelectionTimeoutMS=config["SERVER_SELECTION_TIMEOUT_MS"])
    hello = client.admin.command("hello")
    if "setName" not in hello:
        client.close()
        raise ConfigurationError(
            f"MongoDB at {hosts_of(uri)} is not a replica set member: transfers need multi-document "
            "transactions, which MongoDB offers only on a replica set. Start mongod with "
            "--replSet and run rs.initiate(), or unset MONGO_URI for the embedded engine.")
    audit_from = config.get("AUDIT_READ_PREFERENCE") or "primary"
    if audit_from != "primary" and audit_from not in _READ_PREFERENCES:
        client.close()
        raise ConfigurationError(f"AUDIT_READ_PREFERENCE is {audit_from!r}; use primary or one of "
                                 f"{', '.join(_READ_PREFERENCES)}")
    return MongoStore(client, mongo_collections(client, config["MONGO_DB"]),
                      request_timeout_ms=config["REQUEST_TIMEOUT_MS"],
                      commit_timeout_ms=config["TRANSACTION_TIMEOUT_MS"],
                      audit_read_preference=None if audit_from == "primary"
                      else _READ_PREFERENCES[audit_from])


_READ_PREFERENCES = {"secondary": ReadPreference.SECONDARY,
                     "secondaryPreferred": ReadPreference.SECONDARY_PREFERRED,
                     "nearest": ReadPreference.NEAREST}


def open_store(config):
    """Connect to MongoDB when MONGO_URI is set, else open (and initialise) the embedded engine."""
    if config["MONGO_URI"]:
        return _connect_mongodb(config)
    _, collections_by_name = embedded.open_database(config["MONGO_DB"], COLLECTIONS)
    store = EmbeddedStore(collections_by_name)
    initialise(store, config["IDEMPOTENCY_TTL_S"])
    return store


def initialise(store, idempotency_ttl_s):
    """Indexes, system accounts and the schema version: `db init`, or the embedded start."""
    create_indexes(store.collections, idempotency_ttl_s)
    record_schema_version(store.collections["meta"])
    accounts.ensure_system_accounts(store.collections["system_accounts"])


def record_schema_version(meta):
    """Record SCHEMA_VERSION in a new database; refuse a database of another version."""
    meta.update_one({"_id": "schema"}, {"$setOnInsert": {"version": SCHEMA_VERSION}}, upsert=True)
    _check_schema_version(meta.find_one({"_id": "schema"})["version"])


def _check_schema_version(found):
    if found != SCHEMA_VERSION:
        raise RuntimeError(
            f"the database holds data model version {found!r}; this build needs version "
            f"{SCHEMA_VERSION}. Point MONGO_DB at a database made by this version, or run the "
            "build that matches the data (docs/changelog.md lists the versions).")


class _IndexRecorder(dict):
    """Stands in for the collections: records what ``create_indexes`` would ask for."""

    def __missing__(self, name):
        self[name] = recorder = _RecordingCollection(name)
        return recorder


class _RecordingCollection:
    def __init__(self, name):
        self.name, self.indexes = name, []

    def create_index(self, keys, **options):
        self.indexes.append((list(keys), options))


def expected_indexes(idempotency_ttl_s):
    """[(collection, keys, options)] exactly as ``create_indexes`` declares them."""
    recorder = _IndexRecorder()
    create_indexes(recorder, idempotency_ttl_s)
    return [(name, keys, options) for name, collection in recorder.items()
            for keys, options in collection.indexes]


def missing_indexes(collections_by_name, idempotency_ttl_s):
    """What ``db init`` would still have to build or retime, one phrase each."""
    missing, found = [], {}
    for name, keys, options in expected_indexes(idempotency_ttl_s):
        if name not in found:
            found[name] = {tuple(map(tuple, info["key"])): info
                           for info in collections_by_name[name].index_information().values()}
        shown = f"{name} ({', '.join(field for field, _ in keys)})"
        info = found[name].get(tuple((field, int(order)) for field, order in keys))
        if info is None:
            missing.append(f"index {shown} is missing")
        elif bool(info.get("unique")) != bool(options.get("unique")):
            missing.append(f"index {shown} should {'' if options.get('unique') else 'not '}be unique")
        elif info.get("expireAfterSeconds") != options.get("expireAfterSeconds"):
            missing.append(f"index {shown} expires after {info.get('expireAfterSeconds')} s, "
                           f"IDEMPOTENCY_TTL_S says {options.get('expireAfterSeconds')}")
    return missing


def check_initialised(store, idempotency_ttl_s):
    """Raise RuntimeError naming all that ``db init`` has not done yet; read-only."""
    problems = missing_indexes(store.collections, idempotency_ttl_s)
    schema = store.collections["meta"].find_one({"_id": "schema"})
    if schema is None:
        problems.append("no schema version is recorded")
    else:
        _check_schema_version(schema["version"])  # db init cannot fix another version
    try:
        accounts.check_system_accounts(store.collections["system_accounts"])
    except RuntimeError as exc:
        none = store.collections["system_accounts"].count_documents({}) == 0
        problems.append("there are no system accounts" if none else str(exc).split(". Restore")[0])
    if problems:
        raise DatabaseNotInitialised(
            "the database is not initialised for this version: " + "; ".join(problems)
            + f". Run `{INIT_COMMAND}` once (as a user with the dbAdmin and readWrite roles on "
            "the database; the API itself needs only readWrite), then start the API again.")


class DatabaseNotInitialised(RuntimeError):
    """What the database lacks, and the command that adds it."""


def init_app(app):
    store = open_store(app.config)
    app.extensions["store"] = store
    if store.engine != "mongodb":
        return
    try:
        check_initialised(store, app.config["IDEMPOTENCY_TTL_S"])
    except DatabaseNotInitialised as exc:
        if click.get_current_context(silent=True) is None:  # a server, a script, a test
            store.close()
            raise
        # A console command (`db init` above all, which is what fixes this) goes on.
        log.warning("%s", exc)
