"""The embedded engine: mongomock in this process, with hash indexes.

mongomock answers every query, and every unique-index check, by scanning the
whole collection, so a journal of 20k entries already costs 40 ms an insert.
Here each index the application declares with ``create_index`` also becomes an
equality hash (one per key prefix), and queries whose filter pins those fields
with plain values read only the matching documents. Candidates are always
re-checked against the whole filter, and an update that changes an indexed
field moves the document to its new bucket, so answers equal a full scan's.

A compound index also keeps, per value of its leading fields, its next field in
sorted order (``RangeBucket``): a filter that pins ``wallet_id`` and bounds
``seq`` with $gt/$gte/$lt/$lte reads only the entries in range, where the hash
alone would read the wallet's whole journal for every page of a statement.

TTL indexes are not enforced here (mongomock would rescan the collection on
every access): embedded idempotency keys live as long as the process.
"""
import collections
import copy

import mongomock
from mongomock import helpers
from mongomock.filtering import filter_applies

from app.embedded_ranges import RangeBucket, bounds_kind, order_kind

_SCALARS = (str, int, bool, bytes)
# Fields that hold arrays (multikey on MongoDB): an equality hash keyed on the whole array
# would miss a query for one element, so indexes led by them are left to mongomock's scan.
MULTIKEY_FIELDS = {"wallet_ids"}


def _key(doc, fields):
    return tuple(doc.get(field) for field in fields)


class IndexedDocuments(collections.OrderedDict):
    """One collection's documents by ``_id``, plus equality hashes and range buckets over them."""

    def __init__(self):
        super().__init__()
        self.hashes = {}  # tuple of fields -> {tuple of values -> {_id: None}}
        self.ranges = {}  # (leading fields, next field) -> {tuple of values -> RangeBucket}
        self.indexed_fields = set()  # top-level fields some hash or range keys on

    def add_hash(self, fields):
        if fields in self.hashes:
            return
        buckets = self.hashes[fields] = {}
        self.indexed_fields.update(f.split(".")[0] for f in fields)
        for _id, doc in self.items():
            buckets.setdefault(_key(doc, fields), {})[_id] = None

    def add_range(self, leading, field):
        if (leading, field) in self.ranges:
            return
        self.ranges[leading, field] = {}
        self.indexed_fields.update(f.split(".")[0] for f in (*leading, field))
        for _id, doc in self.items():
            self._place(_id, doc)

    def _place(self, _id, doc):
        for (leading, field), buckets in self.ranges.items():
            buckets.setdefault(_key(doc, leading), RangeBucket()).add(_id, doc.get(field))

    def __setitem__(self, _id, doc):
        if _id in self:
            self._forget(_id, self[_id])
        super().__setitem__(_id, doc)
        for fields, buckets in self.hashes.items():
            buckets.setdefault(_key(doc, fields), {})[_id] = None
        self._place(_id, doc)

    def __delitem__(self, _id):
        self._forget(_id, self[_id])
        super().__delitem__(_id)

    def rehash(self, _id, old_keys):
        """Move a document updated in place out of the buckets of its old keys."""
        doc = self.get(_id)
        for fields, buckets in self.hashes.items():
            new_key = _key(doc, fields) if doc is not None else None
            if old_keys[fields] != new_key:
                buckets.get(old_keys[fields], {}).pop(_id, None)
                if doc is not None:
                    buckets.setdefault(new_key, {})[_id] = None
        for (leading, field), buckets in self.ranges.items():
            (old_key, old_kind, old_value) = old_keys[leading, field]
            if doc is None or (old_key, old_kind, old_value) != self._range_key(doc, leading, field):
                if old_key in buckets:
                    buckets[old_key].remove(_id, old_value)
                if doc is not None:
                    buckets.setdefault(_key(doc, leading), RangeBucket()).add(_id, doc.get(field))

    @staticmethod
    def _range_key(doc, leading, field):
        value = doc.get(field)
        return _key(doc, leading), order_kind(value), value

    def keys_of(self, doc):
        keys = {fields: _key(doc, fields) for fields in self.hashes}
        keys.update({(leading, field): self._range_key(doc, leading, field)
                     for leading, field in self.ranges})
        return keys

    def _forget(self, _id, doc):
        for fields, buckets in self.hashes.items():
            bucket = buckets.get(_key(doc, fields))
            if bucket is not None:
                bucket.pop(_id, None)
        for (leading, field), buckets in self.ranges.items():
            bucket = buckets.get(_key(doc, leading))
            if bucket is not None:
                bucket.remove(_id, doc.get(field))

    def candidates(self, filter):
        """The ids a filter can match, or None when no hash narrows it."""
        if not isinstance(filter, dict):
            return None
        pinned = {k: v for k, v in filter.items() if isinstance(v, _SCALARS)}
        if "_id" in pinned:
            return [pinned["_id"]]
        wanted = filter.get("_id")
        if isinstance(wanted, dict) and set(wanted) == {"$in"} and all(
                isinstance(v, _SCALARS) for v in wanted["$in"]):
            return list(dict.fromkeys(wanted["$in"]))
        best = None
        for fields, buckets in self.hashes.items():
            if all(f in pinned for f in fields) and (best is None or len(fields) > len(best)):
                best = fields
        ranged = self.range_candidates(filter, pinned, best)
        if ranged is not None:
            return ranged
        if best is None:
            return None
        # list() of a dict is one C call: safe against a writer in another thread.
        return list(self.hashes[best].get(_key(pinned, best), ()))

    def range_candidates(self, filter, pinned, best):
        """The ids a range on an indexed field can match, when no hash pins more fields.

        Unlike the hash path this is not safe against a concurrent writer; the app's
        embedded reads hold the store's lock. Without a sort, the answer comes in index
        order, as MongoDB's does when it reads an index."""
        for (leading, field), buckets in self.ranges.items():
            kind = bounds_kind(filter.get(field))
            if kind is None or len(leading) < len(best or ()) or not all(f in pinned for f in leading):
                continue
            bucket = buckets.get(_key(pinned, leading))
            return [] if bucket is None else bucket.between(kind, filter[field])
        return None


class IndexedCollection(mongomock.Collection):
    """A mongomock collection that reads through the equality hashes."""

    def create_index(self, key_or_list, **kwargs):
        kwargs.pop("expireAfterSeconds", None)
        name = super().create_index(key_or_list, **kwargs)
        documents = self._store._documents
        fields = [field for field, _ in helpers.create_index_list(key_or_list)]
        if isinstance(documents, IndexedDocuments) and fields[0] not in MULTIKEY_FIELDS:
            for size in range(1, len(fields) + 1):
                documents.add_hash(tuple(fields[:size]))
                if size > 1:
                    documents.add_range(tuple(fields[:size - 1]), fields[size - 1])
        return name

    def _update(self, spec, document, *args, **kwargs):
        documents = self._store._documents
        if not isinstance(documents, IndexedDocuments):
            return super()._update(spec, document, *args, **kwargs)
        if not _may_move(document, documents.indexed_fields):
            return super()._update(spec, document, *args, **kwargs)  # no bucket can change
        before = {doc["_id"]: documents.keys_of(doc) for doc in self._iter_documents(spec)}
        result = super()._update(spec, document, *args, **kwargs)
        for _id, old_keys in before.items():
            documents.rehash(_id, old_keys)
        return result

    def find_one(self, filter=None, *args, **kwargs):
        """By ``_id`` alone: the stored document copied, without building a cursor."""
        documents = self._store._documents
        if (all(a is None for a in args) and all(v is None for v in kwargs.values())
                and isinstance(filter, dict) and len(filter) == 1
                and isinstance(filter.get("_id"), _SCALARS) and isinstance(documents, IndexedDocuments)):
            found = documents.get(filter["_id"])
            return None if found is None else copy.deepcopy(found)
        return super().find_one(filter, *args, **kwargs)

    def _iter_documents(self, filter):
        documents = self._store._documents
        ids = documents.candidates(filter) if isinstance(documents, IndexedDocuments) else None
        if ids is None:
            return super()._iter_documents(filter)
        found = [documents[i] for i in ids if i in documents]
        return (doc for doc in found if filter_applies(filter, doc))


def _may_move(update, indexed):
    """Whether an update can change an indexed field: False only for operator updates
    (``$inc``, ``$set`` ...) that name none of them; a replacement or pipeline may change anything."""
    if not isinstance(update, dict) or not update or not all(op.startswith("$") for op in update):
        return True
    if any(not isinstance(fields, dict) for fields in update.values()):
        return True
    return any(path.split(".")[0] in indexed for fields in update.values() for path in fields)


def open_database(name, collection_names):
    """A fresh in-memory database whose named collections are hash-indexed."""
    database = mongomock.MongoClient(tz_aware=False)[name]
    collections_by_name = {}
    for collection_name in collection_names:
        database._store[collection_name]._documents = IndexedDocuments()
        collections_by_name[collection_name] = IndexedCollection(
            database, collection_name, _db_store=database._store,
            read_preference=database.read_preference,
            codec_options=database.codec_options)
    return database, collections_by_name


def _bson_order(value):
    """A sort key ranking types as MongoDB does (null, numbers, strings, other) for this app's fields."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (4, value)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, str(value))


class _Scan:
    """``find(filter).sort(...).batch_size(n)`` over the stored documents themselves."""

    def __init__(self, documents, filter):
        self._documents = documents
        self._filter = filter
        self._sort = []

    def sort(self, key_or_list, direction=1):
        self._sort = helpers.create_index_list(key_or_list, direction)
        return self

    def batch_size(self, count):
        return self

    def __iter__(self):
        found = [doc for doc in self._documents.values()
                 if not self._filter or filter_applies(self._filter, doc)]
        for field, direction in reversed(self._sort):  # stable sorts, last key first
            found.sort(key=lambda doc: _bson_order(doc.get(field)), reverse=direction < 0)
        return iter(found)


class ReadOnlyScan:
    """A collection for a read-only walk under the engine lock (the audit).

    mongomock copies every document it returns, sorts with a comparator written in
    Python, and re-slices its whole result list on every ``next()``: a walk over
    20,000 entries took 5.6 s, and the cost grows with the square of the size. This
    reads the stored dicts directly, so callers must not modify what they get.
    """

    def __init__(self, collection):
        self._documents = collection._store._documents

    def find(self, filter=None):
        return _Scan(self._documents, filter or {})
