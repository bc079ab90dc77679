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
alone would read the wallet's whole journal for every page of a statement. A
``find(...).sort(seq).limit(k)`` on such a filter walks the bucket in order and
stops after k matches, as MongoDB walks an index: a page of ``/operations``
costs the same at entry 50,000 of 100,000 as on a short journal.

TTL indexes are honoured, and a collection can be capped per value of a field
(app/storage/embedded/retention.py): idempotency records do not outlive IDEMPOTENCY_TTL_S
here either, and an insert that would give one caller more than IDEMPOTENCY_MAX_PER_SCOPE
unexpired ones is refused (``StoreFull``); none is dropped before its TTL.

Each short path can be switched off (``ACCELERATORS``; ``EmbeddedStore.use_accelerators``),
and then that step is done mongomock's own way: tests/storage/test_embedded_accelerators.py
and tests/storage/test_embedded_writes.py require the same answers either way, and ``make
bench`` (scripts/embedded_paths.py) measures what each one saves. A path switched off is only
not read: its tables are still kept, so that it can be switched on again at any moment.
Retention is behaviour, not speed: always on.
"""
import collections
import copy

import mongomock
from bson import BSON, ObjectId
from mongomock import DuplicateKeyError, filtering, helpers
from mongomock.collection import Cursor, _validate_data_fields
from mongomock.filtering import filter_applies
from pymongo import ReturnDocument

from app.storage.embedded.keys import SCALARS, conditions, filed_under, pinned, pinned_key, single_key
from app.storage.embedded.ranges import RangeBucket, bounds_kind, order_kind
from app.storage.embedded.retention import Retention
from app.storage.unit import StoreFull
from app.storage.embedded.writes import (
    apply, clone, encodable, incrementable, mongo_datetimes, simple_update, written_fields)


# The short paths by name, each with what it replaces (docs/architecture.md#the-embedded-engine).
ACCELERATORS = {
    "hash": "equality hashes: a filter that pins indexed fields (or _id) reads only their bucket, "
            "and a unique index is checked through its bucket",
    "range": "range buckets: a bounded or sorted read of a compound index's next field walks it in "
             "order, and a sorted page copies only its own documents",
    "writes": "short write paths: an insert, a $set/$inc/$unset update (by _id or of many), "
              "find_one_and_update and find_one, without mongomock's cursor and copies",
    "scan": "the audit's snapshot reads the stored documents in place instead of mongomock's copies",
    "group": "the audit's $group runs as compiled closures instead of mongomock's evaluator",
}


class IndexedDocuments(collections.OrderedDict):
    """One collection's documents by ``_id``, plus equality hashes and range buckets over them.

    ``on``: the names of ``ACCELERATORS`` in use, a set shared by the database's collections."""

    def __init__(self, on=None):
        super().__init__()
        self.on = set(ACCELERATORS) if on is None else on
        self.hashes = {}  # tuple of fields -> {tuple of values -> {_id: None}}
        self.ranges = {}  # (leading fields, next field) -> {tuple of values -> RangeBucket}
        self.indexed_fields = set()  # top-level fields some hash or range keys on
        self.retention = Retention()

    def add_hash(self, fields):
        if fields in self.hashes:
            return
        buckets = self.hashes[fields] = {}
        self.indexed_fields.update(f.split(".")[0] for f in fields)
        for _id, doc in self.items():
            for key in filed_under(doc, fields):
                buckets.setdefault(key, {})[_id] = None

    def add_range(self, leading, field):
        if (leading, field) in self.ranges:
            return
        self.ranges[leading, field] = {}
        self.indexed_fields.update(f.split(".")[0] for f in (*leading, field))
        for _id, doc in self.items():
            self._place(_id, doc)

    def _place(self, _id, doc):
        for (leading, field), buckets in self.ranges.items():
            for key in filed_under(doc, leading):
                buckets.setdefault(key, RangeBucket()).add(_id, doc.get(field))

    def _file(self, _id, doc):
        for fields, buckets in self.hashes.items():
            for key in filed_under(doc, fields):
                buckets.setdefault(key, {})[_id] = None
        self._place(_id, doc)

    def _unfile(self, _id, doc):
        for fields, buckets in self.hashes.items():
            for key in filed_under(doc, fields):
                bucket = buckets.get(key)
                if bucket is not None:
                    bucket.pop(_id, None)
        for (leading, field), buckets in self.ranges.items():
            for key in filed_under(doc, leading):
                bucket = buckets.get(key)
                if bucket is not None:
                    bucket.remove(_id, doc.get(field))

    def __setitem__(self, _id, doc):
        replaced = _id in self
        if replaced:
            self._forget(_id, self[_id])
        else:
            self.expire()
            try:
                self.retention.admit(doc, self)  # past a cap: StoreFull, before anything is stored
            except StoreFull:
                if self._duplicates(doc):  # the unique index answers first, as MongoDB's would
                    raise DuplicateKeyError("E11000 Duplicate Key Error", 11000) from None
                raise
        super().__setitem__(_id, doc)
        self._file(_id, doc)
        self.retention.added(_id, doc)

    def _duplicates(self, doc):
        """Whether a stored document has ``doc``'s value of the capped collection's unique key."""
        keys = self.retention.unique
        return bool(keys) and keys in self.hashes and single_key(doc, keys) and bool(
            self.hashes[keys].get(pinned_key(doc, keys)))

    def restore(self, _id, doc):
        """Put back a stored document's earlier copy (a refused update): its buckets follow,
        its place in the TTL order and its cap group stay."""
        self._unfile(_id, self[_id])
        super().__setitem__(_id, doc)
        self._file(_id, doc)

    def __delitem__(self, _id):
        self._forget(_id, self[_id])
        super().__delitem__(_id)

    def expire(self):
        """Drop the documents past the collection's TTL (a no-op without a TTL index)."""
        for _id in self.retention.expired(self):
            del self[_id]

    def rehash(self, _id, old_keys):
        """Move a document updated in place out of the buckets of its old keys."""
        doc = self.get(_id)
        for fields, buckets in self.hashes.items():
            new_keys = filed_under(doc, fields) if doc is not None else ()
            if old_keys[fields] != new_keys:
                for key in old_keys[fields]:
                    buckets.get(key, {}).pop(_id, None)
                for key in new_keys:
                    buckets.setdefault(key, {})[_id] = None
        for (leading, field), buckets in self.ranges.items():
            (old_leading, old_kind, old_value) = old_keys[leading, field]
            if doc is None or (old_leading, old_kind, old_value) != self._range_key(doc, leading, field):
                for key in old_leading:
                    if key in buckets:
                        buckets[key].remove(_id, old_value)
                if doc is not None:
                    for key in filed_under(doc, leading):
                        buckets.setdefault(key, RangeBucket()).add(_id, doc.get(field))

    @staticmethod
    def _range_key(doc, leading, field):
        value = doc.get(field)
        return filed_under(doc, leading), order_kind(value), value

    def keys_of(self, doc):
        keys = {fields: filed_under(doc, fields) for fields in self.hashes}
        keys.update({(leading, field): self._range_key(doc, leading, field)
                     for leading, field in self.ranges})
        return keys

    def _forget(self, _id, doc):
        self.retention.removed(_id, doc)
        self._unfile(_id, doc)

    def candidates(self, filter):
        """The ids a filter can match, or None when nothing narrows it: the smallest of the hash
        buckets its plain values pin, a range bucket no bigger, or the union of an ``$or``'s
        branches if smaller still. A listing's scope (``$and``, ``$or``) is found where it sits."""
        if not isinstance(filter, dict) or "hash" not in self.on:
            return None
        found, alternatives = conditions(filter)
        plain = pinned(found)
        if "_id" in plain:
            return [plain["_id"]]
        wanted = found.get("_id")
        if isinstance(wanted, dict) and set(wanted) == {"$in"} and all(
                isinstance(v, SCALARS) for v in wanted["$in"]):
            return list(dict.fromkeys(wanted["$in"]))
        best = self._smallest_bucket(plain)
        most = None if best is None else len(best)
        ranged = self._range_bucket(found, plain, most)
        if ranged is not None:
            most = len(ranged[0])
        union = self._any_branch(alternatives, most)
        if union is not None:
            return union
        if ranged is not None:
            bucket, field = ranged
            return bucket.between(bounds_kind(found[field]), found[field])
        # list() of a dict is one C call: safe against a writer in another thread.
        return None if best is None else list(best)

    def _smallest_bucket(self, plain):
        """The smallest hash bucket (id -> None) the pinned values name, or None."""
        smallest = None
        for fields, buckets in self.hashes.items():
            if all(f in plain for f in fields):
                bucket = buckets.get(pinned_key(plain, fields), {})
                if smallest is None or len(bucket) < len(smallest):
                    smallest = bucket
        return smallest

    def _any_branch(self, alternatives, most):
        """The ids some branch of an ``$or`` can match (the narrowest ``$or``, fewer than ``most``
        when that is given), or None."""
        narrowest = None
        for branches in alternatives:
            union = {}
            for branch in branches:
                ids = self.candidates(branch)
                if ids is None:
                    break
                union.update(dict.fromkeys(ids))
                if most is not None and len(union) >= most:
                    break  # no narrower than what the caller has
            else:
                if narrowest is None or len(union) < len(narrowest):
                    narrowest, most = union, len(union)
        return None if narrowest is None else list(narrowest)

    def in_order(self, filter, field, descending):
        """Candidate ids for ``filter`` in ``field`` order, lazily, from a range bucket; or None."""
        if not isinstance(filter, dict) or "range" not in self.on:
            return None
        found, _ = conditions(filter)
        kind = bounds_kind(found.get(field)) if field in found else None
        if field in found and kind is None:
            return None  # equality, $in, $ne ...: not a range this index can walk
        plain = pinned(found)
        for (leading, ranged), buckets in self.ranges.items():
            if ranged != field or not all(f in plain for f in leading):
                continue
            bucket = buckets.get(pinned_key(plain, leading))
            if bucket is None:
                return iter(())
            if field in found:
                return bucket.in_order(kind, found[field], descending)
            kinds = list(bucket.columns)
            return bucket.in_order(kinds[0] if kinds else None, {}, descending) if len(kinds) < 2 else None
        return None

    def _range_bucket(self, found, plain, most):
        """(bucket, field): a range bucket of at most ``most`` ids whose leading fields the filter
        pins and whose field it bounds; or None. An absent bucket is an empty one: nothing matches.

        ``found``: the filter's conditions (``conditions``). Unlike the hash path this is not
        safe against a concurrent writer; the app's embedded reads hold the store's lock.
        Without a sort, the answer comes in index order, as MongoDB's does when it reads an index."""
        if "range" not in self.on:
            return None
        for (leading, field), buckets in self.ranges.items():
            if bounds_kind(found.get(field)) is None or not all(f in plain for f in leading):
                continue
            bucket = buckets.get(pinned_key(plain, leading), RangeBucket())
            if most is None or len(bucket) <= most:
                return bucket, field
        return None


class IndexedCursor(Cursor):
    """A cursor that serves a sorted, limited page from a range bucket when it can.

    mongomock builds the whole result, sorts it and then slices it: a page at entry
    50,000 of a 100,000-entry journal took 0.5-3 s. Anything else goes the mongomock way."""

    _page_key = None

    def _compute_results(self, with_limit_and_skip=False):
        if with_limit_and_skip:
            key = (self._factory, self._skip, self._limit)
            if self._page_key != key:
                self._page = self.collection.page_in_order(
                    self._spec, self._sort, self._projection, self._skip, self._limit)
                self._page_key = key
            if self._page is not None:
                return self._page
        return super()._compute_results(with_limit_and_skip)


class IndexedCollection(mongomock.Collection):
    """A mongomock collection that reads through the equality hashes."""

    def find(self, filter=None, projection=None, skip=0, limit=0, sort=None, **kwargs):
        # A hint names a MongoDB index; here the buckets a filter pins are chosen by their size.
        kwargs.pop("hint", None)
        cursor = super().find(filter, projection, skip, limit, sort=sort, **kwargs)
        cursor.__class__ = IndexedCursor  # the same state; only how results are computed differs
        return cursor

    def page_in_order(self, spec, sort, projection, skip, limit):
        """The page (copies) for a sort with a limit: read in index order when a range bucket
        serves a one-field sort, else sorted as mongomock sorts; or None (mongomock's way).

        mongomock copies every matching document before it sorts and slices: the dispatcher's
        100 oldest of 5,000 pending events copied all 5,000. Here only the page is copied."""
        documents = self._store._documents
        if isinstance(sort, dict):
            sort = list(sort.items())
        if (not limit or limit < 0 or not sort or self.codec_options.tz_aware
                or not isinstance(documents, IndexedDocuments) or "range" not in documents.on
                or any(field.startswith("$") for field, _ in sort)):
            return None
        documents.expire()
        ids = documents.in_order(spec, sort[0][0], sort[0][1] < 0) if len(sort) == 1 else None
        if ids is None:
            found = list(self._iter_documents(spec))
            for field, direction in reversed(sort):  # stable sorts, last key first, as mongomock
                found.sort(key=lambda doc: filtering.resolve_sort_key(field, doc), reverse=direction < 0)
            found = found[:skip + limit]
        else:
            found = []
            for _id in ids:
                doc = documents.get(_id)
                if doc is not None and filter_applies(spec, doc):
                    found.append(doc)
                    if len(found) == skip + limit:
                        break
        return [self._copy_only_fields(doc, projection, dict) for doc in found[skip:]]

    def create_index(self, key_or_list, **kwargs):
        ttl_s = kwargs.pop("expireAfterSeconds", None)
        name = super().create_index(key_or_list, **kwargs)
        documents = self._store._documents
        fields = [field for field, _ in helpers.create_index_list(key_or_list)]
        if isinstance(documents, IndexedDocuments):
            if ttl_s is not None:  # a second call with another TTL re-times it, as collMod does
                documents.retention.set_ttl(fields[0], ttl_s, documents)
        if isinstance(documents, IndexedDocuments):
            for size in range(1, len(fields) + 1):
                if "_id" not in fields[:size]:  # a filter pinning _id is read by _id alone
                    documents.add_hash(tuple(fields[:size]))
                if size > 1:
                    documents.add_range(tuple(fields[:size - 1]), fields[size - 1])
        return name

    def _insert(self, data, session=None, ordered=True):
        """One plain document with a plain (or no) ``_id``: mongomock's checks, one copy."""
        documents = self._store._documents
        if (session or type(data) is not dict or not isinstance(documents, IndexedDocuments)
                or "writes" not in documents.on or not isinstance(data.get("_id", ""), SCALARS)):
            return super()._insert(data, session, ordered)
        if not all(isinstance(key, str) for key in data):
            raise ValueError("Document keys must be strings")
        if any(key.startswith("$") for key in data):
            _validate_data_fields(data)  # mongomock's own refusal of a top-level "$" field
        BSON.encode(data)  # refuses a NUL in any key, at any depth, as mongomock's walk does
        if "_id" not in data:  # as pymongo does, in the caller's dict
            data["_id"] = ObjectId()
        object_id = data["_id"]
        if object_id in documents:
            raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
        self._store[object_id] = mongo_datetimes(data)
        try:
            self._ensure_uniques(documents[object_id])
        except DuplicateKeyError:
            del self._store[object_id]
            raise
        return object_id

    def _ensure_uniques(self, new_data):
        """mongomock's check of the unique indexes (``new_data`` is already stored), through the
        equality hash of each plain unique index: a bucket of one is the document itself."""
        documents = self._store._documents
        for index in self._store.indexes.values():
            if not index.get("unique"):
                continue
            keys = tuple(field for field, _ in index["key"])
            if (index.get("sparse") or index.get("partialFilterExpression") is not None
                    or "hash" not in getattr(documents, "on", ())
                    or keys not in getattr(documents, "hashes", {}) or any("." in key for key in keys)
                    or not single_key(new_data, keys)):  # an array, None, a date ...: mongomock's way
                return super()._ensure_uniques(new_data)
            bucket = documents.hashes[keys].get(pinned_key(new_data, keys), ())
            if len(bucket) > 1:
                wanted = {key: new_data.get(key) for key in keys}
                if sum(1 for _id in list(bucket) if filter_applies(wanted, documents[_id])) > 1:
                    raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)

    def _update(self, spec, document, upsert=False, manipulate=False, multi=False, **kwargs):
        documents = self._store._documents
        if not isinstance(documents, IndexedDocuments):
            return super()._update(spec, document, upsert, manipulate, multi, **kwargs)
        if ("writes" in documents.on and not upsert and not any(kwargs.values())
                and type(spec) is dict
                and (multi or isinstance(spec.get("_id"), SCALARS))
                and simple_update(document)):
            result = self._simple_update(mongo_datetimes(spec), document, multi)
            if result is not None:
                return result
        if not _may_move(document, documents.indexed_fields):  # no bucket can change
            return super()._update(spec, document, upsert, manipulate, multi, **kwargs)
        before = {doc["_id"]: (documents.keys_of(doc), clone(doc)) for doc in self._iter_documents(spec)}
        try:
            result = super()._update(spec, document, upsert, manipulate, multi, **kwargs)
        finally:  # mongomock may have written part of an update that then raised
            for _id, (old_keys, _) in before.items():
                documents.rehash(_id, old_keys)
        self._check_uniques(before)  # mongomock checked them through the old buckets
        return result

    def _simple_update(self, spec, update, multi):
        """A ``simple_update`` in place, mongomock's answer; None (nothing written: mongomock
        raises) when a ``$inc`` meets a field that is not a number or a ``$set`` value is not
        BSON. Documents whose indexed fields change move to their new buckets. As in mongomock
        (and MongoDB), each document is checked against the unique indexes as it is written:
        the first that breaks one is put back and raises; those before it stay written."""
        documents = self._store._documents
        found = list(self._iter_documents(spec))
        if not multi:
            found = found[:1]
        if not all(incrementable(doc, update) for doc in found) or not encodable(update):
            return None
        written = written_fields(update)
        moves = bool(written & documents.indexed_fields)
        unique = any(index.get("unique") and written & {key.split(".")[0] for key, _ in index["key"]}
                     for index in self._store.indexes.values())
        modified = 0
        for doc in found:
            old_keys = documents.keys_of(doc) if moves else None
            snapshot = clone(doc) if unique else None
            modified += bool(apply(doc, update))
            if moves:
                documents.rehash(doc["_id"], old_keys)
            if unique:
                self._check_uniques({doc["_id"]: (old_keys, snapshot)})
        return {"connectionId": self.database.client._id, "err": None, "n": len(found),
                "nModified": modified, "ok": 1, "upserted": None, "updatedExisting": bool(found)}

    def _check_uniques(self, before):
        """After documents changed in place and moved buckets (``before``: id -> (old keys, copy),
        in the order they were written): when a unique index is broken, replay the writes one
        at a time from the copies, as mongomock (and MongoDB) check each document as it is
        written: the first that breaks it is put back and raises, those before it stay written,
        those after it were never written."""
        documents = self._store._documents
        try:
            for _id in before:
                if _id in documents:
                    self._ensure_uniques(documents[_id])
            return
        except DuplicateKeyError:
            pass
        written = [_id for _id in before if _id in documents]
        after = {_id: clone(documents[_id]) for _id in written}
        for _id in written:
            documents.restore(_id, before[_id][1])
        for _id in written:
            documents.restore(_id, after[_id])
            try:
                self._ensure_uniques(documents[_id])
            except DuplicateKeyError:
                documents.restore(_id, before[_id][1])
                raise
        raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)  # one no replay explains

    def find_one_and_update(self, filter, update, projection=None, sort=None, upsert=False,
                            return_document=ReturnDocument.BEFORE, **kwargs):
        """By ``_id`` with a simple update: one copy of the document, no cursor."""
        documents = self._store._documents
        if (sort or upsert or any(kwargs.values()) or type(filter) is not dict
                or not isinstance(filter.get("_id"), SCALARS) or not isinstance(documents, IndexedDocuments)
                or "writes" not in documents.on or not simple_update(update)):
            return super().find_one_and_update(filter, update, projection, sort, upsert,
                                               return_document, **kwargs)
        found = self.find_one(filter)
        if found is None:
            return None
        if self._simple_update({"_id": found["_id"]}, update, multi=False) is None:
            return super().find_one_and_update(filter, update, projection, sort, upsert,
                                               return_document, **kwargs)
        if return_document is ReturnDocument.AFTER:
            found = documents[found["_id"]]
        return self._copy(found, projection)

    def _copy(self, doc, projection):
        if projection is None:
            return clone(doc)
        return self._copy_only_fields(doc, copy.deepcopy(projection), dict)

    def find_one(self, filter=None, *args, **kwargs):
        """By ``_id`` or through a hash (and maybe more), with at most a projection: the first
        match copied, without a cursor (mongomock's copies every match, then takes the first)."""
        documents = self._store._documents
        projection = args[0] if len(args) == 1 else kwargs.get("projection")
        if (len(args) <= 1 and set(kwargs) <= {"projection"} and type(filter) is dict
                and isinstance(documents, IndexedDocuments) and "writes" in documents.on):
            if isinstance(filter.get("_id"), SCALARS):
                documents.expire()
                found = documents.get(filter["_id"])
                if found is None or (len(filter) > 1 and not filter_applies(mongo_datetimes(filter), found)):
                    return None
                return self._copy(found, projection)
            if documents.candidates(filter) is not None:
                for found in self._iter_documents(mongo_datetimes(filter)):
                    return self._copy(found, projection)
                return None
        return super().find_one(filter, *args, **kwargs)

    def _iter_documents(self, filter):
        documents = self._store._documents
        if isinstance(documents, IndexedDocuments):
            documents.expire()
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


def cap_per_value(collection, field, most, exempt=(), unique=()):
    """Keep at most ``most`` documents per value of ``field`` (but those in ``exempt``); an
    insert past it raises StoreFull and stores nothing, unless it repeats the value of the
    unique index on ``unique`` (hash-indexed): that is a DuplicateKeyError, as on MongoDB."""
    documents = collection._store._documents
    documents.retention.set_cap(field, most, documents, exempt)
    documents.retention.unique = tuple(unique)


def use_only(on, names):
    """Make ``on`` (a database's shared set of short paths in use) hold exactly ``names``,
    changing only what changes: a reader never sees off a path that stays on."""
    names = set(names)
    unknown = names - set(ACCELERATORS)
    if unknown:
        raise ValueError(f"unknown embedded accelerators {sorted(unknown)}; they are {sorted(ACCELERATORS)}")
    on.intersection_update(names)
    on.update(names)


def open_database(name, collection_names):
    """A fresh in-memory database whose named collections are hash-indexed; they share one set
    of the ``ACCELERATORS`` in use (every one, to begin with)."""
    database = mongomock.MongoClient(tz_aware=False)[name]
    on = set(ACCELERATORS)
    collections_by_name = {}
    for collection_name in collection_names:
        database._store[collection_name]._documents = IndexedDocuments(on)
        collections_by_name[collection_name] = IndexedCollection(
            database, collection_name, _db_store=database._store,
            read_preference=database.read_preference,
            codec_options=database.codec_options)
    return database, collections_by_name
