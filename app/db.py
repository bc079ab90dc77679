"""Storage: one client per process, the indexes, initialisation, and the two stores.

Both engines offer one interface (``Store``: transaction, read, snapshot, ping,
close); the rest of the code sees only that. ``EmbeddedStore`` (here) is a
process-wide lock plus an undo log; ``MongoStore`` (app/mongostore.py) is a
multi-document transaction per unit of work.

Initialisation (indexes, system accounts, the schema version) is one command on
MongoDB, ``flask --app app db init``, run once per deployment (compose: the
``init`` service); a worker at boot only checks and names what is missing, since
an index build on a populated collection outlasts gunicorn's boot timeout. The
embedded engine initialises itself: its data is born with the process.
"""
import functools
import sys
import threading

import click
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.errors import ConfigurationError, OperationFailure
from pymongo.results import InsertManyResult

from app import embedded
from app.ledger import accounts

COLLECTIONS = ("clients", "wallets", "system_accounts", "operations", "transfers", "idempotency",
               "events", "meta", "holds", "webhook_endpoints", "deliveries", "limit_usage",
               "payment_requests", "payment_request_pairs", "withdrawals")
# The data model's version, recorded in meta at initialisation. 2: double-entry (system
# accounts, postings, held and available). No version-1 database was ever deployed.
SCHEMA_VERSION = 2
INDEX_OPTIONS_CONFLICT = 85  # an index with these keys exists with other options
WRITE_CONFLICT = 112  # MongoDB's error code when two transactions write the same document
ACCOUNT_CLASSES = ("wallet", "system", "other")
# Indexes earlier versions made that no query uses (each cost every insert); db init drops them.
EVENTS_TTL_S = 30 * 24 * 3600  # events and deliveries are kept at least 30 days (EVENTS_TTL_S)
OBSOLETE_INDEXES = {"operations": [[("wallet_id", 1), ("created_at", 1)]],
                    "transfers": [[("from_wallet_id", 1), ("created_at", -1)]],
                    # replaced by (pending_fanout, created_at): the fan-out's order without a sort
                    "events": [[("pending_fanout", 1)]]}


def create_indexes(collections, idempotency_ttl_s, events_ttl_s=EVENTS_TTL_S):
    """Declare every index a query needs (idempotent on both engines).

    Each one is listed with the query it serves in tests/test_indexes.py: an index
    no query uses only costs every insert.
    """
    collections["clients"].create_index([("email_key", ASCENDING)], unique=True)
    collections["wallets"].create_index([("client_id", ASCENDING)], unique=True)
    collections["operations"].create_index(
        [("wallet_id", ASCENDING), ("seq", ASCENDING)], unique=True)
    # The audit walks transfer legs in transfer_id order to match them with their transfer.
    collections["operations"].create_index([("transfer_id", ASCENDING)])
    # Holds: a payer's due holds (expiry before a debit, wallet reads, the sweeper and the
    # audit's held rule), and a wallet's holds newest first (GET /wallets/{id}/holds).
    collections["holds"].create_index(
        [("from_wallet_id", ASCENDING), ("status", ASCENDING), ("expires_at", ASCENDING)])
    collections["holds"].create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
    for party in ("from_wallet_id", "to_wallet_id"):
        collections["holds"].create_index(
            [(party, ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)])
    # Withdrawals: a wallet's, newest first (the listing; the audit's held rule by wallet), and
    # the background steps' queue of those pending or processing, oldest first.
    collections["withdrawals"].create_index(
        [("wallet_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)])
    collections["withdrawals"].create_index([("status", ASCENDING), ("updated_at", ASCENDING)])
    collections["idempotency"].create_index(
        [("scope", ASCENDING), ("key", ASCENDING)], unique=True)
    # A client's requests, newest first, as payer or as payee; the sweeper's lapsed ones; a pair's.
    for party in ("from_client_id", "to_client_id"):
        collections["payment_requests"].create_index(
            [(party, ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)])
    collections["payment_requests"].create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
    collections["payment_requests"].create_index(
        [("to_wallet_id", ASCENDING), ("from_wallet_id", ASCENDING), ("status", ASCENDING)])
    # The audit's refunds in the order of the transfer they point at, and its $lookup of them.
    collections["transfers"].create_index([("refund_of", ASCENDING)])
    _ttl_index(collections["idempotency"], "created_at", idempotency_ttl_s)
    _event_indexes(collections, events_ttl_s)
    # A wallet's daily usage (app/ledger/limits.py) is keyed by _id; each expires on its own date.
    _ttl_index(collections["limit_usage"], "expires_at", 0)


def _event_indexes(collections, events_ttl_s):
    """The feed's order, the dispatcher's queues, and events kept EVENTS_TTL_S (>= 30 days)."""
    events, deliveries = collections["events"], collections["deliveries"]
    events.create_index([("created_at", ASCENDING), ("_id", ASCENDING)])
    events.create_index([("wallet_ids", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)])
    # The fan-out's oldest pending events, in order from the index (no in-memory sort of a
    # backlog); partial: only events not yet fanned out are in it.
    events.create_index([("pending_fanout", ASCENDING), ("created_at", ASCENDING)],
                        partialFilterExpression={"pending_fanout": True})
    _ttl_index(events, "created_at", events_ttl_s, name="events_ttl")
    # One delivery per event and target: two dispatchers fanning out one event make one.
    deliveries.create_index([("event_id", ASCENDING), ("target", ASCENDING)], unique=True)
    deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
    deliveries.create_index([("endpoint_id", ASCENDING), ("created_at", DESCENDING)])
    _ttl_index(deliveries, "created_at", events_ttl_s, name="deliveries_ttl")
    collections["webhook_endpoints"].create_index([("owner", ASCENDING), ("created_at", ASCENDING)])


def _ttl_index(collection, field, ttl_s, **options):
    """A TTL index on ``field``; when its time to live changed since it was made, retime it."""
    try:
        collection.create_index([(field, ASCENDING)], expireAfterSeconds=ttl_s, **options)
    except OperationFailure as exc:
        if exc.code != INDEX_OPTIONS_CONFLICT:
            raise
        # Same keys, other options: MongoDB refuses to re-create it, but collMod changes it in
        # place. collMod needs dbAdmin, which only `db init`'s user has (readWrite lacks it).
        collection.database.command("collMod", collection.name, index={
            "keyPattern": {field: 1}, "expireAfterSeconds": ttl_s})


class Collections:
    """The collections as one unit of work (or one read) sees them: ``view.wallets`` ...

    ``savepoint()`` marks a point in the unit; ``rollback_to(mark)`` undoes what was written
    since and returns True, or returns False when it cannot (MongoDB has no savepoints
    inside a transaction, so there it succeeds only when nothing was written since the mark):
    the caller must then abort the whole unit.
    """

    def __init__(self, collections, savepoint=None, rollback_to=None):
        self.__dict__.update(collections)
        if savepoint is not None:  # a unit of work's; a plain view holds its collections only
            self.savepoint, self.rollback_to = savepoint, rollback_to

    def savepoint(self):
        return None

    def rollback_to(self, mark):
        return False


Tx = Collections  # the old name, for branches written before the split


def account_class(collection_name):
    """The class a written document belongs to, for the conflict metric."""
    return {"wallets": "wallet", "system_accounts": "system"}.get(collection_name, "other")


READS = frozenset(("find", "find_one", "count_documents", "aggregate", "index_information"))


class _SessionCollection:
    """A MongoDB collection whose every call runs in the given session.

    A WriteConflict is counted under the class of the document it hit (a client
    wallet, a system shard, anything else) before it goes on to the driver's retry.
    With ``writes``, it counts the calls that may write (for ``rollback_to``).
    """

    def __init__(self, collection, session, conflicts=None, writes=None):
        self._collection = collection
        self._session = session
        self._conflicts = conflicts
        self._writes = writes

    def __getattr__(self, name):
        if self._writes is not None and name not in READS:
            self._writes[0] += 1
        method = functools.partial(getattr(self._collection, name), session=self._session)
        if self._conflicts is None:
            return method

        def call(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except OperationFailure as exc:
                if exc.code == WRITE_CONFLICT:
                    self._conflicts.append(account_class(self._collection.name))
                raise
        return call


class _UndoCollection:
    """An embedded collection that logs how to undo each write it makes."""

    def __init__(self, collection, undo):
        self._collection = collection
        self._undo = undo

    def __getattr__(self, name):
        if name in READS:
            return getattr(self._collection, name)
        raise NotImplementedError(f"{name} is not undoable inside an embedded unit of work")

    def insert_one(self, document):
        result = self._collection.insert_one(document)
        self._undo.append(lambda: self._collection.delete_one({"_id": result.inserted_id}))
        return result

    def insert_many(self, documents):
        # One at a time, each with its undo step, so a failure part-way is undone too.
        inserted = [self.insert_one(document).inserted_id for document in documents]
        return InsertManyResult(inserted, acknowledged=True)

    def find_one_and_update(self, filter, update, return_document=ReturnDocument.BEFORE, **kwargs):
        projection = kwargs.pop("projection", None)  # the undo step needs the whole document
        before = self._collection.find_one_and_update(
            filter, update, return_document=ReturnDocument.BEFORE, **kwargs)
        if before is None:
            if kwargs.get("upsert"):
                inserted = self._collection.find_one(filter, {"_id": 1})
                assert inserted is not None, "an upsert's filter must find what it inserted"
                self._undo.append(lambda: self._collection.delete_one({"_id": inserted["_id"]}))
                return None if return_document == ReturnDocument.BEFORE else (
                    self._collection.find_one({"_id": inserted["_id"]}, projection))
            return None
        self._undo.append(lambda: self._collection.replace_one({"_id": before["_id"]}, before))
        if return_document == ReturnDocument.BEFORE:
            return before
        return self._collection.find_one({"_id": before["_id"]}, projection)


class Store:
    """The one interface both engines offer: transaction, read, snapshot, ping, close."""

    engine = None

    def __init__(self, collections):
        self.collections = collections
        # Callback re-runs after transient errors, and write conflicts by account class,
        # for tests and metrics. The embedded engine serialises, so both stay 0.
        self.transaction_retries = 0
        self.write_conflicts = dict.fromkeys(ACCOUNT_CLASSES, 0)
        self._client = None

    def _view(self, wrap, **savepoints):
        """The collections, each wrapped (a session, an undo log, a read-only scan)."""
        return Collections({name: wrap(coll) for name, coll in self.collections.items()}, **savepoints)

    def close(self):
        """Release the connection pool (MongoDB); the embedded data stays with the process."""


class EmbeddedStore(Store):
    """mongomock in this process: a unit of work is a process-wide lock plus an undo log."""

    engine = "embedded"

    def __init__(self, collections):
        super().__init__(collections)
        self._lock = threading.RLock()
        self.reader = Collections(collections)

    def transaction(self, work):
        """Run ``work(view)`` atomically and return its result."""
        undo = []

        def rollback_to(mark):
            while len(undo) > mark:
                undo.pop()()
            return True

        view = self._view(lambda coll: _UndoCollection(coll, undo),
                          savepoint=lambda: len(undo), rollback_to=rollback_to)
        with self._lock:
            try:
                return work(view)
            except BaseException:
                rollback_to(0)
                raise

    def atomic(self, work):
        """Run ``work(collections)``: single-document writes outside any unit of work, atomic
        here because the lock is held (on MongoDB each such write is atomic by itself)."""
        with self._lock:
            return work(self.reader)

    def read(self, work):
        """Run ``work(reader)``; writes are in place, so reads wait for them."""
        with self._lock:
            return work(self.reader)

    def snapshot(self, work):
        """Run read-only ``work`` under the lock for the whole call: writers wait."""
        with self._lock:
            return work(self._view(embedded.ReadOnlyScan))

    def ping(self):
        self.read(lambda db: db.wallets.find_one({}, {"_id": 1}))
        return True


def hosts_of(uri):
    """The host list of a MongoDB URI: no credentials or options, so it is safe to print."""
    authority = uri.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    return authority.rsplit("@", 1)[-1]


def _connect_mongodb(config):
    from app.mongostore import MongoStore
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
    return MongoStore(client, client[config["MONGO_DB"]], COLLECTIONS,
                      timeout_ms=config["TRANSACTION_TIMEOUT_MS"],
                      request_timeout_ms=config["REQUEST_TIMEOUT_MS"],
                      ready_grace_s=config["READY_GRACE_S"],
                      audit_read_preference=config["AUDIT_READ_PREFERENCE"])


def open_store(config):
    """Connect to MongoDB when MONGO_URI is set, else open (and initialise) the embedded engine."""
    if config["MONGO_URI"]:
        return _connect_mongodb(config)
    _, collections = embedded.open_database(config["MONGO_DB"], COLLECTIONS)
    store = EmbeddedStore(collections)
    initialise(store, config["IDEMPOTENCY_TTL_S"], config["EVENTS_TTL_S"])
    return store


def initialise(store, idempotency_ttl_s, events_ttl_s=EVENTS_TTL_S):
    """Indexes, schema version and system accounts (``flask --app app db init``); idempotent."""
    for name, keys_list in OBSOLETE_INDEXES.items():
        for keys in keys_list:
            if _find_index(store.collections[name], keys) is not None:
                store.collections[name].drop_index(keys)
    create_indexes(store.collections, idempotency_ttl_s, events_ttl_s)
    record_schema_version(store.collections["meta"])
    accounts.ensure_system_accounts(store.collections["system_accounts"])


class _Declared:
    """A stand-in collection that records the indexes ``create_indexes`` declares."""

    def __init__(self, name, found):
        self.name, self._found = name, found

    def create_index(self, keys, **options):
        self._found.append((self.name, [(field, direction) for field, direction in keys], options))


def declared_indexes(idempotency_ttl_s, events_ttl_s=EVENTS_TTL_S):
    """[(collection, [(field, direction)], options)] as create_indexes declares them."""
    found = []
    create_indexes({name: _Declared(name, found) for name in COLLECTIONS}, idempotency_ttl_s,
                   events_ttl_s)
    return found


def _find_index(collection, keys):
    for index in collection.index_information().values():
        if [(field, int(direction)) for field, direction in index["key"]] == list(keys):
            return index
    return None


def check_initialised(store, idempotency_ttl_s, events_ttl_s=EVENTS_TTL_S):
    """(problems, warnings): what ``db init`` has not made, and what it would change."""
    problems, warnings = [], []
    for name, keys, options in declared_indexes(idempotency_ttl_s, events_ttl_s):
        index = _find_index(store.collections[name], keys)
        fields = ", ".join(field for field, _ in keys)
        if index is None:
            problems.append(f"index {name} ({fields}) is missing")
        elif bool(index.get("unique")) != bool(options.get("unique")):
            problems.append(f"index {name} ({fields}) should be unique={bool(options.get('unique'))}")
        elif (store.engine == "mongodb"  # the embedded engine keeps its TTL outside the index
              and index.get("expireAfterSeconds") != options.get("expireAfterSeconds")):
            warnings.append(f"index {name} ({fields}) expires after {index.get('expireAfterSeconds')}"
                            f" s, {'IDEMPOTENCY_TTL_S' if name == 'idempotency' else 'EVENTS_TTL_S'} says "
                            f"{options.get('expireAfterSeconds')}; "
                            "`flask --app app db init` retimes it")
    schema = store.collections["meta"].find_one({"_id": "schema"})
    if schema is None:
        problems.append("no schema version is recorded")
    elif schema.get("version") != SCHEMA_VERSION:
        problems.append(f"the database holds data model version {schema.get('version')!r}; this "
                        f"build needs {SCHEMA_VERSION} (docs/changelog.md lists the versions)")
    try:
        accounts.check_system_accounts(store.collections["system_accounts"])
    except RuntimeError as exc:
        problems.append(str(exc))
    return problems, warnings


def record_schema_version(meta):
    """Record SCHEMA_VERSION in a new database; refuse a database of another version."""
    meta.update_one({"_id": "schema"}, {"$setOnInsert": {"version": SCHEMA_VERSION}}, upsert=True)
    found = meta.find_one({"_id": "schema"})["version"]
    if found != SCHEMA_VERSION:
        raise RuntimeError(
            f"the database holds data model version {found!r}; this build needs version "
            f"{SCHEMA_VERSION}. Point MONGO_DB at a database made by this version, or run the "
            "build that matches the data (docs/changelog.md lists the versions).")


def _check_at_boot(app, store):
    """MongoDB: refuse to serve a database `db init` has not prepared; say what is missing.

    A console command (``db init`` above all) loads the app inside a click context:
    there the problems are only printed, so the command can go on and fix them.
    """
    problems, warnings = check_initialised(store, app.config["IDEMPOTENCY_TTL_S"],
                                           app.config["EVENTS_TTL_S"])
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


def init_app(app):
    store = app.extensions["store"] = open_store(app.config)
    if store.engine == "mongodb":
        _check_at_boot(app, store)
