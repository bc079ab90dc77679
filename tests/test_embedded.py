"""The embedded engine's hash indexes answer exactly what a full scan answers."""
import random

import mongomock
import pytest

from app import embedded


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
    scanned = list(embedded.ReadOnlyScan(indexed).find(query).sort(order).batch_size(7))
    assert [doc["_id"] for doc in scanned] == [doc["_id"] for doc in indexed.find(query).sort(order)]
    assert scanned
