"""The embedded engine: mongomock in this process, for ``make run`` and fast tests.

A unit of work is a process-wide lock plus an undo log (``EmbeddedStore``); the
engine beneath it (``engine``: hash indexes and range buckets over mongomock,
``writes``: short write paths, ``scan``/``group``: the audit's read-only view,
``retention``: TTL indexes and per-value caps) answers what mongomock answers,
faster. Its data is born with the process, so it initialises itself.
"""
import threading

from pymongo import ReturnDocument
from pymongo.results import InsertManyResult

from app.storage.embedded import engine
from app.storage.embedded.scan import ReadOnlyScan
from app.storage.unit import READS, Collections, Store


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

    def delete_one(self, filter):
        found = self._collection.find_one(filter)
        if found is None:
            return self._collection.delete_one(filter)
        result = self._collection.delete_one({"_id": found["_id"]})
        self._undo.append(lambda: self._collection.insert_one(found))
        return result

    def find_one_and_update(self, filter, update, return_document=ReturnDocument.BEFORE, **kwargs):
        projection = kwargs.pop("projection", None)  # the undo step needs the whole document
        before = self._collection.find_one_and_update(
            filter, update, return_document=ReturnDocument.BEFORE, **kwargs)
        if before is None:
            if kwargs.get("upsert"):
                return self._undo_upsert(filter, projection, return_document)
            return None
        self._undo.append(lambda: self._collection.replace_one({"_id": before["_id"]}, before))
        if return_document == ReturnDocument.BEFORE:
            return before
        return self._collection.find_one({"_id": before["_id"]}, projection)

    def _undo_upsert(self, filter, projection, return_document):
        inserted = self._collection.find_one(filter, {"_id": 1})
        if inserted is None:
            raise RuntimeError("an upsert's filter must find what it inserted, or it cannot be undone")
        self._undo.append(lambda: self._collection.delete_one({"_id": inserted["_id"]}))
        if return_document == ReturnDocument.BEFORE:
            return None
        return self._collection.find_one({"_id": inserted["_id"]}, projection)


class EmbeddedStore(Store):
    """mongomock in this process: a unit of work is a process-wide lock plus an undo log."""

    engine = "embedded"
    in_process = True

    def __init__(self, collections):
        super().__init__(collections)
        self._lock = threading.RLock()
        self.reader = Collections(collections)
        # The engine's short paths in use: one set, shared by the collections of open_database.
        sets = [collection._store._documents.on for collection in collections.values()]
        if any(on is not sets[0] for on in sets):
            raise ValueError("an embedded store's collections come from one open_database")
        self._on = sets[0]

    def use_accelerators(self, names):
        """Use only the named short paths of ``engine.ACCELERATORS`` from now on (make bench and
        tests/storage/test_embedded_accelerators.py switch them; answers are the same)."""
        with self._lock:
            engine.use_only(self._on, names)

    def describe(self):
        return "embedded engine (mongomock, in memory): data lives only as long as this process"

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
            if "scan" not in self._on:
                return work(self.reader)
            return work(self._view(ReadOnlyScan))

    def ping(self):
        self.read(lambda db: db.wallets.find_one({}, {"_id": 1}))
        return True

    def drop(self):
        with self._lock:
            for collection in self.collections.values():
                collection.delete_many({})


def open_store(database_name, collection_names):
    """A new, empty embedded database of the named collections."""
    _, collections = engine.open_database(database_name, collection_names)
    return EmbeddedStore(collections)


def bound_idempotency(store, most_per_scope):
    """Keep at most ``most_per_scope`` unexpired idempotency records per caller in this process's
    memory: one more is refused (StoreFull; app/storage/idempotency.py answers 503), none is
    dropped before its TTL, or a retry of its key would run again.

    Not the operator's: it is trusted, and a refused deposit would stop the bank side. Its
    records are bounded by its own rate and the TTL, as on MongoDB."""
    engine.cap_per_value(store.collections["idempotency"], "scope", most_per_scope, exempt=("operator",),
                         unique=("tenant_id", "scope", "key"))
