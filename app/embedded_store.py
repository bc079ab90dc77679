"""The store of the embedded engine: one process-wide lock and an undo log per unit of work."""
import threading

from pymongo import ReturnDocument
from pymongo.results import InsertManyResult

from app import embedded
from app.store import Store


class _UndoCollection:
    """An embedded collection that logs how to undo each write it makes."""

    def __init__(self, collection, undo):
        self._collection = collection
        self._undo = undo

    def __getattr__(self, name):
        if name in ("find", "find_one", "count_documents", "aggregate"):
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


class EmbeddedStore(Store):
    """Units of work under one process-wide lock, undone from a log when they fail."""

    engine = "embedded"

    def __init__(self, collections_by_name):
        super().__init__(collections_by_name)
        self._lock = threading.RLock()

    def transaction(self, work):
        """Run ``work(tx)`` atomically: the engine serialises, so it never conflicts or retries."""
        undo = []
        tx = self._view(lambda coll: _UndoCollection(coll, undo))
        with self._lock:
            try:
                return work(tx)
            except BaseException:
                for step in reversed(undo):
                    step()
                raise

    def read(self, work):
        """Run ``work(reader)``; embedded writes are in place, so reads wait for them."""
        with self._lock:
            return work(self.reader)

    def snapshot(self, work):
        """Under the lock for the whole call: writers wait, so every read sees one moment."""
        with self._lock:
            return work(self._view(embedded.ReadOnlyScan))

    def ping(self):
        self.read(lambda db: db.wallets.find_one({}, {"_id": 1}))
        return True
