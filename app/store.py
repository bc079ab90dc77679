"""The one interface the rest of the code sees of the database (no pymongo, no Flask here).

Two implementations: ``app.db.EmbeddedStore`` (a process-wide lock and an undo
log) and ``app.mongo_store.MongoStore`` (multi-document transactions). The
ledger only ever calls ``transaction``, ``read`` and ``snapshot``; operations
call ``ping``.
"""
import collections
import threading


class UnitCollections:
    """The collections as one unit of work or one read sees them: ``tx.wallets``, ``tx.operations``..."""

    def __init__(self, collections_by_name):
        self.__dict__.update(collections_by_name)


class Store:
    """The database of one process: its collections, its unit of work, its counters."""

    engine = None

    def __init__(self, collections_by_name):
        self.collections = collections_by_name
        self.reader = UnitCollections(collections_by_name)
        # Callback re-runs after transient errors, and write conflicts by the class of
        # document written (client wallet, system account, other), for /metrics.
        self.transaction_retries = 0
        self.conflicts = collections.Counter()
        self._counter_lock = threading.Lock()

    @property
    def write_conflicts(self):
        return sum(self.conflicts.values())

    def count_retry(self):
        with self._counter_lock:
            self.transaction_retries += 1

    def count_conflict(self, wallet_class):
        with self._counter_lock:
            self.conflicts[wallet_class] += 1

    def _view(self, wrap):
        """The collections, each wrapped (a session, an undo log, a read-only scan)."""
        return UnitCollections({name: wrap(coll) for name, coll in self.collections.items()})

    def transaction(self, work):
        """Run ``work(tx)`` atomically and return its result."""
        raise NotImplementedError

    def read(self, work):
        """Run ``work(reader)`` outside any unit of work and return its result."""
        raise NotImplementedError

    def snapshot(self, work):
        """Run read-only ``work(reader)`` on one point-in-time view of every collection."""
        raise NotImplementedError

    def ping(self):
        """True while the database answers (readiness)."""
        raise NotImplementedError

    def close(self):
        """Release the connection pool, if any."""
