"""Every index with the query that uses it: an index no query needs only slows every insert.

A new index joins ``app.db.create_indexes`` and this table together. On a replica set
(MONGO_URI) each query's plan is asked for, and must use its index.
"""
import uuid
from datetime import datetime

import pytest
from pymongo import ASCENDING, DESCENDING, MongoClient

from app import db
from conftest import MONGO_URI, init_mongo_database

# (collection, index keys) -> (where the query is, filter, sort) of one query it serves
INDEX_QUERIES = {
    ("clients", ("email_key",)): ("ledger.clients: sign-up and log-in by email",
                                  {"email_key": "a@b.cd"}, None),
    ("wallets", ("client_id",)): ("ledger.get_client_wallet", {"client_id": "cli_x"}, None),
    ("operations", ("wallet_id", "seq")): ("ledger.list_operations, statements, the audit's journal walk",
                                           {"wallet_id": "wal_x", "seq": {"$lt": 9}},
                                           [("seq", DESCENDING)]),
    ("operations", ("transfer_id",)): ("audit._check_transfers: entries in transfer order",
                                       {}, [("transfer_id", ASCENDING)]),
    ("holds", ("from_wallet_id", "status", "expires_at")): (
        "ledger.expiry: a payer's due holds, before a debit and on a wallet read",
        {"from_wallet_id": "wal_x", "status": "pending", "expires_at": {"$lte": datetime(2030, 1, 1)}},
        None),
    ("holds", ("status", "expires_at")): ("ledger.expiry: the sweeper's due holds",
                                          {"status": "pending", "expires_at": {"$lte": datetime(2030, 1, 1)}},
                                          None),
    ("holds", ("from_wallet_id", "created_at", "_id")): (
        "ledger.list_holds: the $or branch of holds the wallet pays, newest first",
        {"from_wallet_id": "wal_x"}, [("created_at", DESCENDING), ("_id", DESCENDING)]),
    ("holds", ("to_wallet_id", "created_at", "_id")): (
        "ledger.list_holds: the $or branch of holds the wallet receives, newest first",
        {"to_wallet_id": "wal_x"}, [("created_at", DESCENDING), ("_id", DESCENDING)]),
    ("idempotency", ("scope", "key")): ("idempotency.lookup", {"scope": "client:x", "key": "k"}, None),
    ("idempotency", ("created_at",)): ("MongoDB's TTL monitor (expires records)",
                                       {"created_at": {"$lt": datetime(2000, 1, 1)}}, None),
}


def declared():
    return {(name, tuple(field for field, _ in keys))
            for name, keys, _ in db.expected_indexes(24 * 3600)}


def test_every_index_has_a_query_and_every_listed_query_its_index():
    assert declared() == set(INDEX_QUERIES)


@pytest.mark.parametrize("index", [("operations", ("wallet_id", "created_at")),
                                   ("transfers", ("from_wallet_id", "created_at"))])
def test_the_indexes_no_query_used_are_gone(index):
    assert index not in declared()


def winning_index(plan):
    """The keyPattern of the index a winning plan reads, or None (a collection scan)."""
    if plan.get("stage") == "IXSCAN":
        return tuple(plan["keyPattern"])
    for child in [plan.get("inputStage")] + plan.get("inputStages", []):
        if child and (found := winning_index(child)):
            return found
    return None


@pytest.mark.mongo
@pytest.mark.skipif(not MONGO_URI, reason="needs MONGO_URI naming a MongoDB replica set")
@pytest.mark.parametrize("index", INDEX_QUERIES, ids=lambda index: f"{index[0]}{index[1]}")
def test_each_query_uses_its_index_on_mongodb(index):
    name = f"wallet_test_{uuid.uuid4().hex[:12]}"
    init_mongo_database(name)
    client = MongoClient(MONGO_URI)
    try:
        _, query, sort = INDEX_QUERIES[index]
        cursor = client[name][index[0]].find(query)
        if sort:
            cursor = cursor.sort(sort)
        plan = cursor.explain()["queryPlanner"]["winningPlan"]
        assert winning_index(plan.get("queryPlan", plan)) == index[1], plan
    finally:
        client.drop_database(name)
        client.close()
