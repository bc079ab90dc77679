"""The store on a MongoDB replica set: transactions, majority reads, snapshots, a tolerant ping.

What pymongo (4.20) does, and what this module does about it:

* ``with_transaction`` re-runs the callback on ``TransientTransactionError`` (a
  WriteConflict on a hot wallet is one) with backoff for up to 120 s, or until a
  ``pymongo.timeout`` block runs out; then it raises a timeout carrying the last
  error's labels. Each unit runs under ``pymongo.timeout(REQUEST_TIMEOUT_MS)``, and a
  timeout after write conflicts is ``wallet_busy`` (503, Retry-After).
* A commit that passes its time limit raises with ``UnknownTransactionCommitResult``
  and is not retried: it may have committed. That is ``outcome_unknown`` (503), never
  a 500, and a retry with the same Idempotency-Key learns the real outcome.
* Snapshot reads must end within ``minSnapshotHistoryWindowInSeconds`` (300 s by
  default) and are not retried: SnapshotTooOld is ``audit_snapshot_too_old``.
"""
import contextlib
import functools

import pymongo
from pymongo import ReadPreference
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from app import errors
from app.store import Store

WRITE_CONFLICT = 112       # two transactions wrote the same document
SNAPSHOT_TOO_OLD = 239     # a snapshot read older than the server's history window
PING_TIMEOUT_S = 2
# /ready turns 503 only after this many failed pings in a row: an election (~10-12 s, during
# which a secondary still answers the ping) or one slow answer does not drain the instance.
READY_AFTER_FAILURES = 3
# Which collection a conflicting write was on: the metric's wallet_class label.
WALLET_CLASSES = {"wallets": "client", "system_accounts": "system"}


def unit_error(exc, conflicted):
    """The API error for a PyMongoError out of a unit of work, or None to let it through."""
    if exc.has_error_label("UnknownTransactionCommitResult"):
        return errors.OutcomeUnknown(
            "the database did not confirm the commit in time, so it may or may not have "
            "happened. Retry with the same Idempotency-Key to get the real outcome; without "
            "one, look at the wallet's journal (GET /wallets/{id}/operations) before sending "
            "it again")
    if exc.timeout and conflicted:
        return errors.WalletBusy(
            "other transfers kept this wallet's document busy until this request's time ran "
            "out; nothing was written. Retry after Retry-After seconds with the same "
            "Idempotency-Key")
    if exc.timeout:
        return errors.DatabaseUnavailable(
            "the database did not answer in time; nothing was written. Retry later, with the "
            "same Idempotency-Key")
    return None


class _SessionCollection:
    """A collection whose every call runs in ``session``; WriteConflicts are reported."""

    def __init__(self, collection, session, on_conflict):
        self._collection = collection
        self._session = session
        self._on_conflict = on_conflict

    def __getattr__(self, name):
        method = functools.partial(getattr(self._collection, name), session=self._session)

        def call(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except OperationFailure as exc:
                if exc.code == WRITE_CONFLICT:
                    self._on_conflict(self._collection.name)
                raise
        return call


class MongoStore(Store):
    """Units of work as multi-document transactions (snapshot, majority, primary)."""

    engine = "mongodb"

    def __init__(self, client, collections, request_timeout_ms=15000, commit_timeout_ms=10000,
                 audit_read_preference=None):
        super().__init__(collections)
        self.client = client
        self._request_timeout_s = request_timeout_ms / 1000 if request_timeout_ms else None
        self._commit_timeout_ms = commit_timeout_ms
        self._audit_read_preference = audit_read_preference
        self._failed_pings = 0

    def _deadline(self):
        if self._request_timeout_s is None:
            return contextlib.nullcontext()
        return pymongo.timeout(self._request_timeout_s)  # nested: the earlier deadline wins

    def transaction(self, work):
        """Run ``work(tx)`` in a transaction that pymongo re-runs on transient errors."""
        state = {"attempts": 0, "conflicted": False}

        def on_conflict(collection_name):
            state["conflicted"] = True
            self.count_conflict(WALLET_CLASSES.get(collection_name, "other"))

        def callback(_session):
            state["attempts"] += 1
            if state["attempts"] > 1:
                self.count_retry()
            return work(tx)

        with self.client.start_session() as session:
            tx = self._view(lambda coll: _SessionCollection(coll, session, on_conflict))
            try:
                with self._deadline():
                    return session.with_transaction(
                        callback, read_concern=ReadConcern("snapshot"),
                        write_concern=WriteConcern("majority"),
                        read_preference=ReadPreference.PRIMARY,
                        max_commit_time_ms=self._commit_timeout_ms)  # ignored under a timeout
            except PyMongoError as exc:
                mapped = unit_error(exc, state["conflicted"])
                if mapped is None:
                    raise
                raise mapped from exc

    def read(self, work):
        """Run ``work(reader)``: majority reads (set on the database), under the deadline."""
        try:
            with self._deadline():
                return work(self.reader)
        except PyMongoError as exc:
            mapped = unit_error(exc, conflicted=False)
            if mapped is None:
                raise
            raise mapped from exc

    def snapshot(self, work):
        """Run read-only ``work(reader)`` in a snapshot session: one cluster time for all reads.

        Writers go on meanwhile. With AUDIT_READ_PREFERENCE (e.g. secondaryPreferred) the
        reads leave the primary alone.
        """
        def wrap(collection, session):
            if self._audit_read_preference is not None:
                collection = collection.with_options(read_preference=self._audit_read_preference)
            return _SessionCollection(collection, session, lambda name: None)

        with self.client.start_session(snapshot=True) as session:
            try:
                return work(self._view(lambda coll: wrap(coll, session)))
            except OperationFailure as exc:
                if exc.code != SNAPSHOT_TOO_OLD:
                    raise
                raise errors.AuditSnapshotTooOld(
                    "the audit read for longer than the database keeps its snapshot history "
                    "(minSnapshotHistoryWindowInSeconds, 300 s by default). Run it at a quieter "
                    "time, from a secondary (AUDIT_READ_PREFERENCE=secondaryPreferred), or with "
                    "a longer window: docs/operations.md, \"Audit\"") from exc

    def ping(self):
        """False only after READY_AFTER_FAILURES failed pings in a row (any member may answer)."""
        try:
            with pymongo.timeout(PING_TIMEOUT_S):
                self.client.admin.command("ping", read_preference=ReadPreference.PRIMARY_PREFERRED)
        except PyMongoError:
            self._failed_pings += 1
            return self._failed_pings < READY_AFTER_FAILURES
        self._failed_pings = 0
        return True

    def close(self):
        self.client.close()
