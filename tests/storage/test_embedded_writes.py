"""The embedded engine's short paths (app/storage/embedded/writes.py) answer and store what mongomock does.

Every case runs the same calls on a hash-indexed collection and on plain mongomock, then
compares the answers, the errors and every stored document.
"""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import mongomock
import pytest
from pymongo import ReturnDocument

from app.storage.embedded import engine as embedded
from app.storage.embedded import retention as embedded_retention
from app.storage.embedded.writes import clone, mongo_datetimes

MOMENT = datetime(2026, 12, 1, 12, 30, 15, 123456)
AWARE = datetime(2026, 12, 1, 14, 30, 15, 999999, tzinfo=timezone(timedelta(hours=2)))


def wallet(_id, **fields):
    return {"_id": _id, "client_id": f"cl_{_id}", "balance_cents": 500, "available_cents": 500,
            "held_cents": 0, "version": 3, "limits": {"daily_out_cents": 100}, "tags": ["a", ["b"]],
            "updated_at": MOMENT, **fields}


# Every short path on, each one off, all off: the engine stores and answers as mongomock does.
SETTINGS = {"all on": set(embedded.ACCELERATORS), "all off": set(), **{
    f"{name} off": set(embedded.ACCELERATORS) - {name} for name in embedded.ACCELERATORS}}


@pytest.fixture(params=list(SETTINGS.values()), ids=list(SETTINGS))
def pair(request):
    """(short-path collection, plain mongomock collection) holding the same wallets; the
    short-path side uses the parameter's set of short paths."""
    _, indexed = embedded.open_database("t", ["wallets"])
    embedded.use_only(indexed["wallets"]._store._documents.on, request.param)
    plain = mongomock.MongoClient(tz_aware=False).t.wallets
    for collection in (indexed["wallets"], plain):
        collection.create_index([("client_id", 1)], unique=True)
        for name in ("w1", "w2", "w3"):
            collection.insert_one(wallet(name))
    return indexed["wallets"], plain


def both(pair, call):
    """The outcome of ``call(collection)`` on each side: (answer or error type) and what is stored."""
    outcomes = []
    for collection in pair:
        try:
            answer = call(collection)
        except Exception as exc:  # the error's type is what must match
            answer = ("raised", type(exc).__name__)
        outcomes.append((answer, list(collection.find().sort("_id"))))
    return outcomes


VALUES = [None, True, 0, -7, 2.5, "text", b"bytes", MOMENT, AWARE, [MOMENT, {"at": AWARE}],
          (1, MOMENT), {"nested": {"deeper": [MOMENT, (AWARE,)]}}]


@pytest.mark.parametrize("value", VALUES)
def test_datetimes_are_patched_as_mongomock_patches_them(value):
    assert mongo_datetimes(value) == mongomock.helpers.patch_datetime_awareness_in_document(value)


@pytest.mark.parametrize("value", VALUES)
def test_clone_copies_containers_like_deepcopy(value):
    document = {"value": value, "list": [value, {"inner": [value]}]}
    copied = clone(document)
    assert copied == document
    assert copied["list"] is not document["list"] and copied["list"][1] is not document["list"][1]


INSERTS = [
    {"_id": "w9", "client_id": "cl_w9", "at": MOMENT, "aware": AWARE, "deep": {"list": [MOMENT, (1, 2)]}},
    {"client_id": "cl_new"},                        # no _id: one is made, in the caller's dict
    {"_id": "w1", "client_id": "cl_other"},          # duplicate _id
    {"_id": "w8", "client_id": "cl_w1"},             # duplicate in the unique index: rolled back
    {"_id": "w7", "client_id": "cl_w7", "bad\x00key": 1},
    {"_id": "w6", "client_id": "cl_w6", "$set": 1},
    {"_id": "w5", 5: "not a string key"},
    {"_id": {"compound": 1}, "client_id": "cl_compound"},
]


@pytest.mark.parametrize("document", INSERTS)
def test_inserts_store_and_refuse_what_mongomock_does(pair, document):
    (short_answer, short_stored), (plain_answer, plain_stored) = both(
        pair, lambda c: c.insert_one(dict(document)).inserted_id)
    if "_id" not in document and not isinstance(short_answer, tuple):  # each side made its own ObjectId
        short_stored = [d for d in short_stored if d["_id"] != short_answer]
        plain_stored = [d for d in plain_stored if d["_id"] != plain_answer]
        short_answer = plain_answer = "made"
    assert short_answer == plain_answer
    assert short_stored == plain_stored


def test_an_insert_stores_a_copy_not_the_callers_dict(pair):
    short, _ = pair
    document = {"_id": "w9", "client_id": "cl_w9", "postings": [{"amount_cents": 1}]}
    short.insert_one(document)
    document["postings"][0]["amount_cents"] = 999
    assert short.find_one({"_id": "w9"})["postings"] == [{"amount_cents": 1}]


UPDATES = [
    ({"_id": "w1"}, {"$inc": {"balance_cents": -100, "version": 1}, "$set": {"updated_at": AWARE}}),
    ({"_id": "w1", "available_cents": {"$gte": 600}}, {"$inc": {"balance_cents": -600}}),
    ({"_id": "w1", "available_cents": {"$gte": 500}}, {"$inc": {"available_cents": -500}}),
    ({"_id": "w1"}, {"$inc": {"new_counter": 2}, "$set": {"new_field": [MOMENT, {"x": 1}]}}),
    ({"_id": "w1"}, {"$inc": {"balance_cents": 0}}),                 # matched, not modified
    ({"_id": "w1"}, {"$set": {"updated_at": MOMENT}}),              # the same value: not modified
    ({"_id": "w1"}, {"$inc": {"balance_cents": 0.0}}),
    ({"_id": "w1"}, {"$inc": {"updated_at": 1}}),                    # $inc of a date: an error
    ({"_id": "w1"}, {"$inc": {"tags": 1}, "$set": {"version": 99}}),  # nothing half-written
    ({"_id": "w1"}, {"$set": {"client_id": "cl_w2"}}),               # an indexed field: unique
    ({"_id": "w1"}, {"$set": {"client_id": "cl_moved"}, "$inc": {"version": 1}}),
    ({"_id": "w1"}, {"$unset": {"limits": "", "absent": ""}, "$inc": {"version": 1}}),
    ({"_id": "w1"}, {"$unset": {"absent": 1}}),
    ({"_id": "w1"}, {"$unset": {"client_id": ""}}),
    ({"_id": "w1"}, {"$set": {"version": 1}, "$inc": {"version": 1}}),  # one field twice
    ({"_id": "w1"}, {"$set": {"limits.daily_out_cents": 5}}),         # dotted: mongomock's path
    ({"_id": "nope"}, {"$inc": {"balance_cents": 1}}),
    ({"_id": {"$in": ["w1", "w2"]}}, {"$inc": {"version": 1}}),
    ({"_id": "w1"}, {"balance_cents": 1}),                            # a replacement
]


@pytest.mark.parametrize("spec,update", UPDATES)
@pytest.mark.parametrize("call", ["update_one", "update_many"])
def test_updates_answer_and_store_what_mongomock_does(pair, spec, update, call):
    def run(collection):
        result = getattr(collection, call)(spec, update)
        return result.matched_count, result.modified_count, result.upserted_id

    short, plain = both(pair, run)
    assert short == plain


@pytest.mark.parametrize("spec,update", UPDATES)
@pytest.mark.parametrize("returned", [ReturnDocument.BEFORE, ReturnDocument.AFTER])
# Not {"_id": 0}: mongomock then looks the document up again by the filter, and with
# AFTER answers None when the update made the filter false (MongoDB answers the document).
@pytest.mark.parametrize("projection", [None, {"balance_cents": 1}, {"tags": 0}])
def test_find_one_and_update_answers_what_mongomock_does(pair, spec, update, returned, projection):
    short, plain = both(pair, lambda c: c.find_one_and_update(
        spec, update, projection=projection, return_document=returned))
    assert short == plain


def test_find_one_and_update_returns_copies(pair):
    short, _ = pair
    before = short.find_one_and_update({"_id": "w1"}, {"$inc": {"version": 1}})
    after = short.find_one_and_update({"_id": "w1"}, {"$inc": {"version": 1}},
                                      return_document=ReturnDocument.AFTER)
    before["tags"].append("changed")
    after["limits"]["daily_out_cents"] = 0
    stored = short.find_one({"_id": "w1"})
    assert stored["tags"] == ["a", ["b"]] and stored["limits"] == {"daily_out_cents": 100}
    assert (before["version"], after["version"], stored["version"]) == (3, 5, 5)


@pytest.mark.parametrize("query,projection", [
    ({"_id": "w1"}, None), ({"_id": "w1", "balance_cents": 500}, None),
    ({"_id": "w1", "balance_cents": {"$gt": 500}}, None), ({"_id": "w1"}, {"limits": 1}),
    ({"_id": "w1", "updated_at": MOMENT}, {"_id": 0, "version": 1}), ({"_id": "nope"}, None),
    ({"_id": "w1", "updated_at": {"$lte": AWARE}}, {"client_id": 1}),
    # through the client_id hash
    ({"client_id": "cl_w2"}, None), ({"client_id": "cl_w2", "version": 3}, {"version": 1}),
    ({"client_id": "cl_w2", "version": 4}, None), ({"client_id": "nobody"}, None),
    ({"client_id": {"$in": ["cl_w2"]}}, None), ({"version": 3}, {"_id": 1}),
])
def test_find_one_answers_what_mongomock_does(pair, query, projection):
    short, plain = both(pair, lambda c: c.find_one(query, projection))
    assert short == plain


@pytest.mark.parametrize("update", [{"$set": {"client_id": "cl_moved"}}, {"$unset": {"client_id": ""}}])
def test_an_update_of_an_indexed_field_moves_the_document_to_its_new_bucket(pair, update):
    for collection in pair:
        collection.update_one({"_id": "w1"}, update)
    short, plain = pair
    for query in ({"client_id": "cl_moved"}, {"client_id": "cl_w1"}, {"client_id": None}):
        assert list(short.find(query)) == list(plain.find(query)), query


@pytest.mark.parametrize("spec,update", [
    ({"_id": {"$in": ["w1", "w2"]}}, {"$set": {"client_id": "cl_w3"}}),  # the first breaks it
    ({}, {"$set": {"client_id": "same"}}),                     # the first stays, the second breaks it
    ({}, {"$unset": {"client_id": ""}}),                       # two without: null twice
    ({"_id": {"$in": ["w2", "w3"]}}, {"$set": {"client_id": "cl_w1"}}),
])
def test_a_unique_index_broken_by_update_many_stops_where_mongomock_stops(pair, spec, update):
    short, plain = both(pair, lambda c: c.update_many(spec, update).modified_count)
    assert short == plain
    for query in ({"client_id": "same"}, {"client_id": "cl_w1"}, {"client_id": None}):
        assert list(pair[0].find(query)) == list(pair[1].find(query)), query


def test_an_increment_through_a_compound_unique_index_is_checked_document_by_document():
    _, indexed = embedded.open_database("t", ["ops"])
    plain = mongomock.MongoClient(tz_aware=False).t.ops
    for collection in (indexed["ops"], plain):
        collection.create_index([("wallet_id", 1), ("seq", 1)], unique=True)
        collection.insert_many([{"_id": "a", "wallet_id": "w", "seq": 1},
                                {"_id": "b", "wallet_id": "w", "seq": 2}])
    short, plain_outcome = both((indexed["ops"], plain), lambda c: c.update_many(
        {"wallet_id": "w"}, {"$inc": {"seq": 1}}).modified_count)
    assert short == plain_outcome and short[0] == ("raised", "DuplicateKeyError")


def test_a_unique_index_with_no_hash_is_still_checked():
    _, indexed = embedded.open_database("t", ["events"])
    plain = mongomock.MongoClient(tz_aware=False).t.events
    for collection in (indexed["events"], plain):
        collection.create_index([("wallet_ids", 1)], unique=True)  # led by an array field: no hash
        collection.insert_many([{"_id": "a", "wallet_ids": "x"}, {"_id": "b", "wallet_ids": "y"}])
    short, plain_outcome = both((indexed["events"], plain), lambda c: c.update_one(
        {"_id": "a"}, {"$set": {"wallet_ids": "y"}}).modified_count)
    assert short == plain_outcome and short[0] == ("raised", "DuplicateKeyError")


@pytest.mark.parametrize("value", [Decimal("1.5"), 2 ** 64, {1: 2}, {"a\x00": 1}, {"x"}])
def test_a_set_of_a_value_bson_cannot_hold_is_refused_as_mongomock_refuses_it(pair, value):
    short, plain = both(pair, lambda c: c.update_one({"_id": "w1"}, {"$set": {"q": value}}).modified_count)
    assert short == plain and short[0][0] == "raised"


def test_new_fields_land_in_the_order_of_the_update(pair):
    for collection in pair:
        collection.update_one({"_id": "w1"}, {"$set": {"zz": 1}, "$inc": {"aa": 1}, "$unset": {"tags": ""}})
    short, plain = (list(c.find_one({"_id": "w1"})) for c in pair)
    assert short == plain


def test_a_sort_given_as_a_dict_pages_as_mongomock_pages(pair):
    for collection in pair:
        collection.update_one({"_id": "w2"}, {"$set": {"version": 9}})
    short, plain = (list(c.find({}, sort={"version": -1, "_id": 1}, limit=2, skip=1)) for c in pair)
    assert short == plain


def test_an_update_that_raises_half_way_leaves_the_hashes_in_step():
    _, indexed = embedded.open_database("t", ["holds"])
    plain = mongomock.MongoClient(tz_aware=False).t.holds
    for collection in (indexed["holds"], plain):
        collection.create_index([("status", 1)])
        collection.insert_one({"_id": "h1", "status": "a", "n": "text"})
    short, plain_outcome = both((indexed["holds"], plain), lambda c: c.update_one(
        {"_id": "h1"}, {"$set": {"status": "b"}, "$inc": {"n": 1}}).modified_count)
    assert short == plain_outcome
    assert list(indexed["holds"].find({"status": "b"})) == list(plain.find({"status": "b"}))


def test_a_refused_update_keeps_the_documents_place_in_the_ttl_order(monkeypatch):
    _, indexed = embedded.open_database("t", ["idempotency"])
    keys = indexed["idempotency"]
    keys.create_index([("scope", 1), ("key", 1)], unique=True)
    keys.create_index([("created_at", 1)], expireAfterSeconds=60)
    now = embedded_retention.utcnow()
    keys.insert_many([{"_id": "a", "scope": "s", "key": "k1", "created_at": now},
                      {"_id": "b", "scope": "s", "key": "k2", "created_at": now}])
    with pytest.raises(mongomock.DuplicateKeyError):
        keys.update_one({"_id": "a"}, {"$set": {"key": "k2"}})
    monkeypatch.setattr(embedded_retention, "utcnow", lambda: now + timedelta(seconds=120))
    assert keys.find_one({"_id": "b"}) is None and keys.find_one({"_id": "a"}) is None
    assert list(keys.find()) == []
