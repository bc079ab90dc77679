"""The MongoDB store: each unit of work one multi-document transaction, capped in time.

What a failed commit means is decided here, from pymongo's own error labels:

- ``UnknownTransactionCommitResult`` (the commit passed maxCommitTimeMS, or the
  connection dropped during it): the transfer may or may not have happened, so
  503 ``outcome_unknown``; a retry with the same Idempotency-Key finds out.
- out of time after WriteConflicts (two transactions wrote one hot document, and
  the driver kept re-running the callback): 503 ``wallet_busy`` with Retry-After.
- out of time otherwise: 503 ``database_unavailable``.
"""
import functools
import threading
import time

import pymongo
from pymongo import MongoClient, ReadPreference
from pymongo.errors import ConfigurationError, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from app import errors
from app.storage.unit import READS, Collections, Store, account_class

WRITE_CONFLICT = 112  # MongoDB's error code when two transactions write the same document
PING_TIMEOUT_S = 2
WALLET_BUSY_RETRY_AFTER_S = 1  # a hot wallet's queue drains in well under a second
# Unready only after this many failed pings in a row that span READY_GRACE_S: an
# election (~10-12 s) fails two or three 2 s pings, and requests wait it out anyway.
READY_FAILURES = 3
SNAPSHOT_TOO_OLD = 239
SNAPSHOT_UNAVAILABLE = 246


def hosts_of(uri):
    """The host list of a MongoDB URI: no credentials or options, so it is safe to print."""
    authority = uri.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    return authority.rsplit("@", 1)[-1]


def connect(config, collection_names):
    """A MongoStore on MONGO_URI; refuses a server that is not a replica set member."""
    uri = config["MONGO_URI"]
    client = MongoClient(uri, w="majority", readPreference="primary", tz_aware=False,
                         serverSelectionTimeoutMS=config["SERVER_SELECTION_TIMEOUT_MS"],
                         # pymongo CommandListeners (tests and benchmarks count what is sent)
                         event_listeners=config.get("MONGO_EVENT_LISTENERS") or [])
    hello = client.admin.command("hello")
    if "setName" not in hello:
        client.close()
        raise ConfigurationError(
            f"MongoDB at {hosts_of(uri)} is not a replica set member: transfers need multi-document "
            "transactions, which MongoDB offers only on a replica set. Start mongod with "
            "--replSet and run rs.initiate(), or unset MONGO_URI for the embedded engine.")
    return MongoStore(client, client[config["MONGO_DB"]], collection_names,
                      timeout_ms=config["TRANSACTION_TIMEOUT_MS"],
                      request_timeout_ms=config["REQUEST_TIMEOUT_MS"],
                      ready_grace_s=config["READY_GRACE_S"],
                      audit_read_preference=config["AUDIT_READ_PREFERENCE"])


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


class MongoStore(Store):
    """A replica set through one MongoClient; reads outside transactions are majority reads."""

    engine = "mongodb"
    # Longer than a MongoDB transaction can live (transactionLifetimeLimitSeconds, 60 s) plus
    # the commit's time limit: no document older than this can still be uncommitted.
    settle_ms = 75_000
    ttl_in_index = True

    def __init__(self, client, database, collection_names, timeout_ms=10000, request_timeout_ms=5000,
                 ready_grace_s=30.0, audit_read_preference="primary", clock=time.monotonic):
        self._database = database
        super().__init__({name: database[name] for name in collection_names})
        self._client = client
        self._timeout_ms = timeout_ms
        self._request_timeout_s = request_timeout_ms / 1000
        self._ready_grace_s = ready_grace_s
        self._clock = clock
        self._counts_lock = threading.Lock()
        self._failures = []  # times of the pings that failed since the last one that answered
        # A balance or statement must not show a write a failover could roll back.
        majority = ReadConcern("majority")
        self.reader = Collections({name: coll.with_options(read_concern=majority)
                                   for name, coll in self.collections.items()})
        audit_preference = pymongo.read_preferences.read_pref_mode_from_name(audit_read_preference)
        self._snapshot_collections = {
            name: coll.with_options(read_preference=pymongo.read_preferences.make_read_preference(
                audit_preference, None)) for name, coll in self.collections.items()}

    def transaction(self, work):
        """Run ``work(view)`` in one transaction, within the request's time cap."""
        attempts, conflicts = [0], []

        def callback(session):
            attempts[0] += 1
            if attempts[0] > 1:
                with self._counts_lock:
                    self.transaction_retries += 1
            writes = [0]  # no savepoints in a transaction: a mark holds while nothing was written
            return work(self._view(lambda coll: _SessionCollection(coll, session, conflicts, writes),
                                   savepoint=lambda: writes[0], rollback_to=lambda mark: writes[0] == mark))

        try:
            with pymongo.timeout(self._request_timeout_s), self._client.start_session() as session:
                return session.with_transaction(
                    callback, read_concern=ReadConcern("snapshot"),
                    write_concern=WriteConcern("majority"), read_preference=ReadPreference.PRIMARY,
                    max_commit_time_ms=self._timeout_ms)
        except PyMongoError as exc:
            refusal = refusal_for(exc)
            if refusal is exc:
                raise
            raise refusal from exc
        finally:
            self._count_conflicts(conflicts)

    def _count_conflicts(self, conflicts):
        if conflicts:
            with self._counts_lock:
                for hit in conflicts:
                    self.write_conflicts[hit] += 1

    def read(self, work):
        return work(self.reader)

    def atomic(self, work):
        """Single-document conditional writes outside a transaction: each is atomic by itself."""
        return work(Collections(self.collections))

    def snapshot(self, work):
        """One snapshot session (5.0+): writers go on, every read sees one cluster time.

        AUDIT_READ_PREFERENCE may send it to a secondary. Past the server's snapshot
        window (minSnapshotHistoryWindowInSeconds) the reads fail and are not retried:
        503 snapshot_too_old.
        """
        try:
            with self._client.start_session(snapshot=True) as session:
                return work(Collections({name: _SnapshotCollection(coll, session)
                                         for name, coll in self._snapshot_collections.items()}))
        except OperationFailure as exc:
            if exc.code in (SNAPSHOT_TOO_OLD, SNAPSHOT_UNAVAILABLE):
                raise errors.SnapshotTooOld(
                    "the audit outlived the server's snapshot window "
                    "(minSnapshotHistoryWindowInSeconds, 300 s by default): raise the window, "
                    "run it on a secondary (AUDIT_READ_PREFERENCE=secondaryPreferred) or at a "
                    "quieter time; docs/architecture.md, \"The audit on MongoDB\"") from exc
            raise

    def describe(self):
        return f"MongoDB replica set, database {self._database.name!r}"

    def drop(self):
        self._client.drop_database(self._database.name)

    def ping(self):
        """False only after READY_FAILURES failed pings in a row spanning the grace period."""
        try:
            with pymongo.timeout(PING_TIMEOUT_S):
                self._client.admin.command("ping")
        except PyMongoError:
            with self._counts_lock:
                self._failures.append(self._clock())
                failing_for = self._failures[-1] - self._failures[0]
                return len(self._failures) < READY_FAILURES or failing_for < self._ready_grace_s
        with self._counts_lock:
            self._failures.clear()
        return True

    def close(self):
        self._client.close()


class _SnapshotCollection(_SessionCollection):
    """A collection read in a snapshot session; its indexes are read outside it.

    A snapshot session sends readConcern "snapshot" with every command, and servers
    refuse it on listIndexes (InvalidOptions; the drivers' spec test
    snapshot-sessions-unsupported-ops), so the catalog is read as it is now, on the
    primary (pymongo's rule for listIndexes), a moment before the snapshot's first read.
    """

    def index_information(self):
        return self._collection.index_information()


def refusal_for(exc, retry_after_s=WALLET_BUSY_RETRY_AFTER_S):
    """Map a pymongo error out of with_transaction to the API error it means."""
    if exc.has_error_label("UnknownTransactionCommitResult"):
        return errors.OutcomeUnknown(
            "the commit's outcome is unknown: the transfer may have happened. Retry with the "
            "same Idempotency-Key to learn the outcome (without one, look at the journal first)")
    conflicted = _caused_by_write_conflict(exc)
    if conflicted and (exc.timeout or exc.has_error_label("TransientTransactionError")):
        busy = errors.WalletBusy(
            "a wallet in this request is being written by many requests at once; retry after "
            "Retry-After seconds with the same Idempotency-Key")
        busy.headers = {"Retry-After": str(max(1, round(retry_after_s)))}
        return busy
    if exc.timeout:
        return errors.DatabaseUnavailable(
            "the database did not answer in time; retry later, with the same Idempotency-Key")
    return exc


def _caused_by_write_conflict(exc):
    while exc is not None:
        if isinstance(exc, OperationFailure) and exc.code == WRITE_CONFLICT:
            return True
        exc = exc.__cause__
    return False
