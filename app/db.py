"""Storage: one client per process, the indexes, and the unit of work.

The unit of work is the only place where the two engines differ. On MongoDB it
is a multi-document transaction (snapshot reads, majority writes, primary) that
the driver retries on transient errors. On the embedded engine it is a
process-wide lock plus an undo log, so a failure part-way leaves no trace.
"""
import functools
import threading

import pymongo
from pymongo import ASCENDING, DESCENDING, MongoClient, ReadPreference, ReturnDocument
from pymongo.errors import ConfigurationError, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.results import InsertManyResult
from pymongo.write_concern import WriteConcern

from app import embedded
from app.ledger import accounts

COLLECTIONS = ("clients", "wallets", "system_accounts", "operations", "transfers", "idempotency",
               "events", "meta", "holds")
# The data model's version, recorded in meta at initialisation. 2: double-entry (system
# accounts, postings, held and available). No version-1 database was ever deployed.
SCHEMA_VERSION = 2
INDEX_OPTIONS_CONFLICT = 85  # an index with these keys exists with other options
WRITE_CONFLICT = 112  # MongoDB's error code when two transactions write the same document
PING_TIMEOUT_S = 2  # a readiness probe must answer long before the transaction timeout


def create_indexes(collections, idempotency_ttl_s):
    """Declare every index the queries need (idempotent on both engines)."""
    collections["clients"].create_index([("email_key", ASCENDING)], unique=True)
    collections["wallets"].create_index([("client_id", ASCENDING)], unique=True)
    collections["operations"].create_index(
        [("wallet_id", ASCENDING), ("seq", ASCENDING)], unique=True)
    collections["operations"].create_index(
        [("wallet_id", ASCENDING), ("created_at", ASCENDING)])
    # The audit walks transfer legs in transfer_id order to match them with their transfer.
    collections["operations"].create_index([("transfer_id", ASCENDING)])
    collections["transfers"].create_index([("from_wallet_id", ASCENDING), ("created_at", DESCENDING)])
    # Holds: a payer's due holds (expiry before a debit, wallet reads, the sweeper and the
    # audit's held rule), and a wallet's holds newest first (GET /wallets/{id}/holds).
    collections["holds"].create_index(
        [("from_wallet_id", ASCENDING), ("status", ASCENDING), ("expires_at", ASCENDING)])
    collections["holds"].create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
    for party in ("from_wallet_id", "to_wallet_id"):
        collections["holds"].create_index(
            [(party, ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)])
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
        # Same keys, other options: MongoDB refuses to re-create it, but collMod changes it in place.
        collection.database.command("collMod", collection.name, index={
            "keyPattern": {field: 1}, "expireAfterSeconds": ttl_s})


class Tx:
    """The collections as seen from inside one unit of work (``tx.wallets`` ...).

    ``savepoint()`` marks a point in the unit; ``rollback_to(mark)`` undoes what was written
    since and returns True, or returns False when it cannot (MongoDB has no savepoints
    inside a transaction, so there it succeeds only when nothing was written since the mark):
    the caller must then abort the whole unit.
    """

    def __init__(self, collections, savepoint=None, rollback_to=None):
        self.__dict__.update(collections)
        self.savepoint = savepoint or (lambda: None)
        self.rollback_to = rollback_to or (lambda mark: False)


READS = frozenset(("find", "find_one", "count_documents", "aggregate"))


class _SessionCollection:
    """A MongoDB collection whose every call runs in the given session; it counts the writes."""

    def __init__(self, collection, session, writes=None):
        self._collection = collection
        self._session = session
        self._writes = writes

    def __getattr__(self, name):
        if self._writes is not None and name not in READS:
            self._writes[0] += 1
        return functools.partial(getattr(self._collection, name), session=self._session)


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
            return None
        self._undo.append(lambda: self._collection.replace_one({"_id": before["_id"]}, before))
        if return_document == ReturnDocument.BEFORE:
            return before
        return self._collection.find_one({"_id": before["_id"]}, projection)


class Store:
    """The database of one process and its unit of work."""

    def __init__(self, collections, engine, client=None, timeout_ms=10000):
        self.collections = collections
        self.engine = engine
        self._client = client
        self._timeout_ms = timeout_ms
        self._lock = threading.RLock()
        self.reader = Tx(collections)
        # Callback re-runs after transient errors, and the write conflicts among their
        # causes, for tests and metrics. The embedded engine serialises, so both stay 0.
        self.transaction_retries = 0
        self.write_conflicts = 0
        self._retry_lock = threading.Lock()

    def _view(self, wrap, **savepoints):
        """The collections, each wrapped (a session, an undo log, a read-only scan)."""
        return Tx({name: wrap(coll) for name, coll in self.collections.items()}, **savepoints)

    def transaction(self, work):
        """Run ``work(tx)`` atomically and return its result."""
        if self._client is None:
            return self._embedded_transaction(work)
        attempts = 0

        def callback(_session):
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                with self._retry_lock:
                    self.transaction_retries += 1
            try:
                return work(tx)
            except OperationFailure as exc:
                if exc.code == WRITE_CONFLICT:
                    with self._retry_lock:
                        self.write_conflicts += 1
                raise

        with self._client.start_session() as session:
            writes = [0]
            tx = self._view(lambda coll: _SessionCollection(coll, session, writes),
                            savepoint=lambda: writes[0], rollback_to=lambda mark: writes[0] == mark)
            return session.with_transaction(
                callback,
                read_concern=ReadConcern("snapshot"),
                write_concern=WriteConcern("majority"),
                read_preference=ReadPreference.PRIMARY,
                max_commit_time_ms=self._timeout_ms,
            )

    def _embedded_transaction(self, work):
        undo = []

        def rollback_to(mark):
            while len(undo) > mark:
                undo.pop()()
            return True

        tx = self._view(lambda coll: _UndoCollection(coll, undo),
                        savepoint=lambda: len(undo), rollback_to=rollback_to)
        with self._lock:
            try:
                return work(tx)
            except BaseException:
                rollback_to(0)
                raise

    def read(self, work):
        """Run ``work(reader)``; embedded writes are in place, so reads wait for them."""
        if self._client is None:
            with self._lock:
                return work(self.reader)
        return work(self.reader)

    def snapshot(self, work):
        """Run read-only ``work(reader)`` on one point-in-time view of all collections.

        Embedded: under the lock for the whole call, so writers wait. MongoDB: a
        snapshot session (5.0+), so writers go on and every read sees one cluster time.
        """
        if self._client is None:
            with self._lock:
                return work(self._view(embedded.ReadOnlyScan))
        with self._client.start_session(snapshot=True) as session:
            return work(self._view(lambda coll: _SessionCollection(coll, session)))

    def ping(self):
        """True when the database answers a trivial request."""
        if self._client is None:
            self.read(lambda db: db.wallets.find_one({}, {"_id": 1}))
            return True
        try:
            with pymongo.timeout(PING_TIMEOUT_S):
                self._client.admin.command("ping")
        except PyMongoError:
            return False
        return True


def hosts_of(uri):
    """The host list of a MongoDB URI: no credentials or options, so it is safe to print."""
    authority = uri.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    return authority.rsplit("@", 1)[-1]


def _connect_mongodb(uri, database_name, timeout_ms, selection_timeout_ms):
    client = MongoClient(uri, w="majority", readPreference="primary", tz_aware=False,
                         serverSelectionTimeoutMS=selection_timeout_ms)
    hello = client.admin.command("hello")
    if "setName" not in hello:
        client.close()
        raise ConfigurationError(
            f"MongoDB at {hosts_of(uri)} is not a replica set member: transfers need multi-document "
            "transactions, which MongoDB offers only on a replica set. Start mongod with "
            "--replSet and run rs.initiate(), or unset MONGO_URI for the embedded engine.")
    database = client[database_name]
    collections = {name: database[name] for name in COLLECTIONS}
    return Store(collections, "mongodb", client=client, timeout_ms=timeout_ms)


def open_store(config):
    """Connect to MongoDB when MONGO_URI is set, else open the embedded engine."""
    if config["MONGO_URI"]:
        store = _connect_mongodb(config["MONGO_URI"], config["MONGO_DB"],
                                 config["TRANSACTION_TIMEOUT_MS"],
                                 config["SERVER_SELECTION_TIMEOUT_MS"])
    else:
        _, collections = embedded.open_database(config["MONGO_DB"], COLLECTIONS)
        store = Store(collections, "embedded")
    create_indexes(store.collections, config["IDEMPOTENCY_TTL_S"])
    record_schema_version(store.collections["meta"])
    accounts.ensure_system_accounts(store.collections["system_accounts"])
    return store


def record_schema_version(meta):
    """Record SCHEMA_VERSION in a new database; refuse a database of another version."""
    meta.update_one({"_id": "schema"}, {"$setOnInsert": {"version": SCHEMA_VERSION}}, upsert=True)
    found = meta.find_one({"_id": "schema"})["version"]
    if found != SCHEMA_VERSION:
        raise RuntimeError(
            f"the database holds data model version {found!r}; this build needs version "
            f"{SCHEMA_VERSION}. Point MONGO_DB at a database made by this version, or run the "
            "build that matches the data (docs/changelog.md lists the versions).")


def init_app(app):
    app.extensions["store"] = open_store(app.config)
