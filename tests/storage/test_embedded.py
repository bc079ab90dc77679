"""The embedded engine's hash indexes and range buckets answer exactly what a full scan answers."""
import random
from datetime import datetime

import mongomock
import pytest

from app.storage.embedded import engine as embedded
from app.storage.embedded.scan import ReadOnlyScan


@pytest.fixture
def pair():
    """The same documents in a hash-indexed collection and in plain mongomock."""
    _, indexed = embedded.open_database("t", ["ops"])
    plain = mongomock.MongoClient().t.ops
    rng = random.Random(7)
    for collection in (indexed["ops"], plain):
        collection.create_index([("wallet_id", 1), ("seq", 1)], unique=True)
    for i in range(300):
        doc = {"_id": f"op{i}", "wallet_id": f"w{rng.randint(0, 9)}", "seq": i, "kind": rng.choice("ab")}
        indexed["ops"].insert_one(dict(doc))
        plain.insert_one(dict(doc))
    return indexed["ops"], plain


QUERIES = [
    {"wallet_id": "w3"}, {"wallet_id": "w3", "seq": {"$lt": 150}}, {"wallet_id": "w3", "seq": 17},
    {"wallet_id": "w3", "kind": "a"}, {"_id": "op5"}, {"_id": "op5", "wallet_id": "w0"},
    {"seq": {"$gte": 290}}, {"wallet_id": {"$in": ["w1", "w2"]}}, {}, {"wallet_id": "none"},
    {"_id": {"$in": ["op3", "op7", "op3", "nope"]}}, {"_id": {"$in": ["op3", "op8"]}, "kind": "a"},
    {"_id": {"$in": []}}, {"_id": {"$in": ["op3"], "$ne": "op3"}},
    # ranges on the index's second field, read through the range buckets
    {"wallet_id": "w3", "seq": {"$gt": 100, "$lte": 200}},
    {"wallet_id": "w3", "seq": {"$gte": 17, "$lt": 150}},
    {"wallet_id": "w3", "seq": {"$gt": 299}}, {"wallet_id": "w3", "seq": {"$lt": 0}},
    {"wallet_id": "w3", "seq": {"$gte": 10.5, "$lte": 99.5}}, {"wallet_id": "w3", "seq": {"$lte": 40}},
    {"wallet_id": "w3", "seq": {"$gt": 200, "$lt": 100}},
    {"wallet_id": "w3", "seq": {"$gt": 10}, "kind": "a"},
    {"wallet_id": "none", "seq": {"$gt": 1}},
    # conditions the buckets leave to the hash and the full check
    {"wallet_id": "w3", "seq": {"$gt": 10, "$ne": 20}}, {"wallet_id": "w3", "seq": {"$gt": "a"}},
    {"wallet_id": "w3", "seq": {"$gt": 10, "$lt": "z"}}, {"wallet_id": "w3", "seq": {"$gt": float("nan")}},
    {"wallet_id": "w3", "seq": {"$in": [1, 2, 3]}},
]


@pytest.mark.parametrize("query", QUERIES)
def test_queries_match_a_full_scan(pair, query):
    indexed, plain = pair
    assert list(indexed.find(query).sort("seq")) == list(plain.find(query).sort("seq"))


def test_unique_index_still_refuses_duplicates(pair):
    indexed, _ = pair
    existing = indexed.find_one({"_id": "op0"})
    with pytest.raises(mongomock.DuplicateKeyError):
        indexed.insert_one({"_id": "new", "wallet_id": existing["wallet_id"], "seq": 0})
    assert indexed.find_one({"_id": "new"}) is None


def test_deletes_and_replacements_keep_hashes_in_step(pair):
    indexed, plain = pair
    for collection in (indexed, plain):
        collection.delete_one({"_id": "op1"})
        collection.replace_one({"_id": "op2"}, {"wallet_id": "w9", "seq": 2, "kind": "b"})
    for query in ({"wallet_id": "w9"}, {"_id": "op1"}, {"_id": "op2"}):
        assert list(indexed.find(query).sort("seq")) == list(plain.find(query).sort("seq"))


@pytest.mark.parametrize("query, order", [
    ({}, [("wallet_id", 1), ("seq", 1)]),
    ({"kind": "a"}, [("seq", -1)]),
    ({"kind": {"$in": ["a", "b"]}}, [("maybe", 1), ("_id", 1)]),
    ({"seq": {"$gte": 100}}, [("wallet_id", -1), ("seq", 1)]),
])
def test_the_read_only_scan_answers_like_find_and_sort(pair, query, order):
    indexed, _ = pair
    for i, doc in enumerate(indexed.find({"seq": {"$lt": 40}})):  # nulls and numbers before strings
        indexed.update_one({"_id": doc["_id"]}, {"$set": {"maybe": [None, 7, "x", 2.5][i % 4]}})
    scanned = list(ReadOnlyScan(indexed).find(query).sort(order).batch_size(7))
    assert [doc["_id"] for doc in scanned] == [doc["_id"] for doc in indexed.find(query).sort(order)]
    assert scanned


def same(indexed, plain, query):
    assert list(indexed.find(query).sort("_id")) == list(plain.find(query).sort("_id")), query


def test_a_range_reads_only_the_entries_in_range(pair):
    indexed, _ = pair
    documents = indexed._store._documents
    query = {"wallet_id": "w3", "seq": {"$gt": 100, "$lte": 200}}
    matching = {doc["_id"] for doc in indexed.find(query)}
    assert 0 < len(matching) < indexed.count_documents({"wallet_id": "w3"})
    assert sorted(documents.candidates(query)) == sorted(matching)


# Lists and sub-documents too: a range bucket keeps them with the values it cannot order.
MIXED = [3, 7, 7.0, 7.5, -1, 10**12, float("nan"), None, "7", "abc", True, False,
         datetime(2024, 1, 1), datetime(2024, 6, 1), b"7", [5, 9], [], {"a": 7}]


@pytest.fixture
def mixed():
    """Values of every kind in one bucket of a non-unique compound index, some missing."""
    _, indexed = embedded.open_database("t", ["ops"])
    plain = mongomock.MongoClient().t.ops
    for collection in (indexed["ops"], plain):
        collection.create_index([("wallet_id", 1), ("at", 1)])
        for i, value in enumerate(MIXED):
            collection.insert_one({"_id": f"m{i}", "wallet_id": "wx", "at": value})
        collection.insert_one({"_id": "missing", "wallet_id": "wx"})
        collection.insert_one({"_id": "other", "wallet_id": "wy", "at": 5})
    return indexed["ops"], plain


@pytest.mark.parametrize("condition", [
    {"$gt": 5}, {"$gte": 3, "$lte": 7}, {"$lt": 7}, {"$gt": 7.0}, {"$gte": -1, "$lt": 10**13},
    {"$gt": datetime(2024, 3, 1)}, {"$lte": datetime(2024, 1, 1)}, {"$gt": "a"}, {"$lt": 1000, "$gt": 0},
])
def test_ranges_over_mixed_values_match_a_full_scan(mixed, condition):
    same(*mixed, {"wallet_id": "wx", "at": condition})


def test_writes_keep_range_buckets_in_step(pair):
    indexed, plain = pair
    for collection in (indexed, plain):
        collection.update_one({"_id": "op10"}, {"$set": {"seq": 1000}})
        collection.update_one({"_id": "op11"}, {"$set": {"wallet_id": "w3", "seq": 1001}})
        collection.update_one({"_id": "op12"}, {"$inc": {"seq": 500}})
        collection.update_many({"kind": "b", "seq": {"$lt": 40}}, {"$inc": {"seq": 2000}})
        collection.update_one({"_id": "op13"}, {"$unset": {"seq": ""}})
        collection.delete_one({"_id": "op14"})
        collection.replace_one({"_id": "op15"}, {"wallet_id": "w3", "seq": 1002.5, "kind": "a"})
        collection.insert_one({"_id": "late", "wallet_id": "w3", "seq": 999})
        collection.delete_one({"_id": "late"})
        collection.insert_one({"_id": "later", "wallet_id": "w3", "seq": 998})
    for wallet in [f"w{i}" for i in range(10)]:
        for condition in ({"$gte": 0}, {"$gt": 900}, {"$lt": 50}, {"$gte": 1000, "$lt": 3000}):
            same(indexed, plain, {"wallet_id": wallet, "seq": condition})


def test_find_one_by_id_returns_a_copy_like_mongomock(pair):
    indexed, plain = pair
    for collection in (indexed, plain):
        found = collection.find_one({"_id": "op1"})
        found["kind"] = "changed"
        assert collection.find_one({"_id": "op1"})["kind"] != "changed"
    assert indexed.find_one({"_id": "op1"}) == plain.find_one({"_id": "op1"})
    assert indexed.find_one({"_id": "nope"}) is None
    assert indexed.find_one({"_id": "op1"}, {"kind": 1}) == plain.find_one({"_id": "op1"}, {"kind": 1})


def test_updates_of_unindexed_fields_leave_the_buckets_alone(pair):
    indexed, plain = pair
    for collection in (indexed, plain):
        collection.update_one({"_id": "op3"}, {"$inc": {"kind_count": 1}, "$set": {"note": "x"}})
        collection.update_one({"_id": "op4"}, {"$set": {"seq": 4000}})  # indexed: re-hashed
    for query in ({"wallet_id": plain.find_one({"_id": "op4"})["wallet_id"], "seq": 4000},
                  {"_id": "op3"}):
        assert list(indexed.find(query)) == list(plain.find(query))


# Lists in indexed fields are multikey, as on MongoDB: a document is in the bucket of each element.
TAGS = [["w1", "w2"], ["w2"], ["w1", "w1"], [], ["w3", 7], [7.0], ["w1", ["w2"]], [{"w": 1}, "w2"],
        "w1", None, 7, True, [True, "w3"], [None], [b"w1"], [datetime(2024, 1, 1), "w3"]]


@pytest.fixture
def multikey():
    """Events of several wallets (a list, sometimes odd) in an index led by that list; and in plain
    mongomock."""
    _, indexed = embedded.open_database("t", ["events"])
    plain = mongomock.MongoClient().t.events
    rng = random.Random(29)
    for collection in (indexed["events"], plain):
        collection.create_index([("wallet_ids", 1), ("created_at", 1), ("_id", 1)])
        collection.create_index([("kind", 1), ("created_at", -1)])
    for i in range(240):
        doc = {"_id": f"e{i:03d}", "created_at": datetime(2024, 1, 1 + i % 28, i % 24),
               "kind": rng.choice("ab"), "party": rng.choice(["w1", "w2", "w3"])}
        if i % 17:
            doc["wallet_ids"] = TAGS[i % len(TAGS)]
        indexed["events"].insert_one(dict(doc))
        plain.insert_one(dict(doc))
    return indexed["events"], plain


MULTIKEY_QUERIES = [
    {"wallet_ids": "w1"}, {"wallet_ids": "w2"}, {"wallet_ids": "w3"}, {"wallet_ids": 7},
    {"wallet_ids": True}, {"wallet_ids": b"w1"}, {"wallet_ids": "none"}, {"wallet_ids": None},
    {"wallet_ids": []},
    {"wallet_ids": ["w1", "w2"]}, {"wallet_ids": ["w2"]}, {"wallet_ids": {"$in": ["w1", "w3"]}},
    {"wallet_ids": {"$size": 0}}, {"wallet_ids": {"$all": ["w1", "w2"]}}, {"wallet_ids": {"$ne": "w1"}},
    {"wallet_ids": "w1", "created_at": {"$lt": datetime(2024, 1, 10)}},
    {"wallet_ids": "w1", "created_at": {"$gte": datetime(2024, 1, 5), "$lt": datetime(2024, 1, 20)},
     "$or": [{"created_at": {"$gt": datetime(2024, 1, 9)}},
             {"created_at": datetime(2024, 1, 9), "_id": {"$gt": "e100"}}]},
    {"wallet_ids": "w2", "kind": "a"},
    # $and and $or: the listings put the caller's scope inside them
    {"$and": [{"wallet_ids": "w1"}, {"kind": "b"}]},
    {"$and": [{"$or": [{"wallet_ids": "w3"}, {"party": "w3"}]}, {"kind": "a"}]},
    {"$and": [{"$or": [{"wallet_ids": "w3"}, {"kind": "a"}]},
              {"$or": [{"created_at": {"$lt": datetime(2024, 1, 3)}}, {"kind": "b"}]}]},
    {"$or": [{"wallet_ids": "w1"}, {"wallet_ids": "w2"}]}, {"$or": [{"wallet_ids": "w1"}, {"party": "w2"}]},
    {"$and": [{"kind": "a"},
              {"$and": [{"wallet_ids": "w2"}, {"created_at": {"$gt": datetime(2024, 1, 2)}}]}]},
    {"$and": [{"wallet_ids": "w1"}, {"wallet_ids": "w2"}]}, {"$or": [{"kind": "a"}]},
]


@pytest.mark.parametrize("query", MULTIKEY_QUERIES)
def test_multikey_queries_match_a_full_scan(multikey, query):
    same(*multikey, query)


@pytest.mark.parametrize("query", MULTIKEY_QUERIES[:18])
def test_multikey_pages_match_a_full_scan(multikey, query):
    indexed, plain = multikey
    order = [("created_at", 1), ("_id", 1)]
    for limit in (1, 5, 50):
        assert [d["_id"] for d in indexed.find(query).sort(order).limit(limit)] == [
            d["_id"] for d in plain.find(query).sort(order).limit(limit)], (query, limit)


def test_writes_keep_multikey_buckets_in_step(multikey):
    indexed, plain = multikey
    for collection in multikey:
        collection.update_one({"_id": "e001"}, {"$set": {"wallet_ids": ["w9", "w1"]}})
        collection.update_one({"_id": "e002"}, {"$push": {"wallet_ids": "w9"}})
        collection.update_one({"_id": "e003"}, {"$pull": {"wallet_ids": "w2"}})
        collection.update_many({"kind": "a", "wallet_ids": "w3"}, {"$set": {"wallet_ids": "w9"}})
        collection.update_one({"_id": "e004"}, {"$unset": {"wallet_ids": ""}})
        collection.replace_one({"_id": "e005"},
                               {"wallet_ids": ["w9", "w9"], "created_at": datetime(2024, 2, 1)})
        collection.delete_one({"_id": "e006"})
        collection.insert_one({"_id": "new", "wallet_ids": ["w9", "w2"], "created_at": datetime(2024, 2, 2)})
    for wallet in ("w1", "w2", "w3", "w9"):
        same(indexed, plain, {"wallet_ids": wallet})
        same(indexed, plain, {"wallet_ids": wallet, "created_at": {"$gte": datetime(2024, 1, 15)}})


def test_a_scope_inside_and_or_reads_only_that_scope(multikey):
    indexed, _ = multikey
    documents = indexed._store._documents
    query = {"$and": [{"$or": [{"wallet_ids": "w3"}, {"kind": "zzz"}]},
                      {"created_at": {"$lt": datetime(2025, 1, 1)}}]}
    scoped = {doc["_id"] for doc in indexed.find({"wallet_ids": "w3"})}
    assert 0 < len(scoped) < indexed.count_documents({})
    assert set(documents.candidates(query)) == scoped
    ranged = {"wallet_ids": "w3", "created_at": {"$lt": datetime(2024, 1, 9)}}
    assert set(documents.candidates(ranged)) <= scoped
