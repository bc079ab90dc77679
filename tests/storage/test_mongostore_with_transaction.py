"""MongoStore under pymongo's own retry loop: ``with_transaction`` itself, over scripted answers.

tests/storage/test_mongostore.py imitates the loop; here pymongo 4.20's
``ClientSession.with_transaction`` runs unchanged (tests/support/mongo_standin.py), so its
real rules decide: no retry of a commit past its time limit, backoff on
WriteConflict until ``pymongo.timeout`` runs out. Only the server's answers are
scripted, as real error types with their real codes and labels.
"""
import time

import pytest
from pymongo import MongoClient, ReadPreference

from app import audit, errors
from app.storage.schema import COLLECTIONS
from app.storage.mongo import MongoStore
from tests.conftest import Api
from tests.support.mongo_standin import (StandInClient, StandInCollection, commit_time_limit_passed,
                                         snapshot_too_old, write_conflict)


def store_with(client, request_timeout_ms=15000, audit_read_preference="primary", **scripted):
    names = ("wallets", "system_accounts", "idempotency", *scripted)
    database = {name: StandInCollection(name, scripted.get(name, ())) for name in names}
    return MongoStore(client, database, list(database), request_timeout_ms=request_timeout_ms,
                      audit_read_preference=audit_read_preference)


def move(tx):
    """A unit's writes as the ledger makes them: the sender, then a system shard."""
    tx.wallets.find_one_and_update({"_id": "sender"}, {"$inc": {"balance_cents": -1}})
    tx.system_accounts.find_one_and_update({"_id": "sys_bank_00"}, {"$inc": {"balance_cents": 1}})
    return "committed"


def test_conflicts_that_clear_commit_and_are_counted_by_class_of_document():
    client = StandInClient()
    store = store_with(client, wallets=[write_conflict(), write_conflict()],
                       system_accounts=[write_conflict()])
    assert store.transaction(move) == "committed"
    assert store.transaction_retries == 3
    assert store.write_conflicts == {"wallet": 2, "system": 1, "other": 0}
    starts = [call for call in client.calls if call[0] == "start_transaction"]
    # Each attempt: snapshot reads, majority writes, on the primary.
    assert starts == [("start_transaction", "snapshot", {"w": "majority"}, "Primary")] * 4


def test_a_commit_past_its_time_limit_is_outcome_unknown_and_pymongo_does_not_retry_it():
    client = StandInClient(commit_errors=[commit_time_limit_passed()])
    with pytest.raises(errors.OutcomeUnknown) as unknown:
        store_with(client).transaction(move)
    assert [call for call in client.calls if call[0] == "commit_transaction"] == [
        ("commit_transaction",)]
    assert unknown.value.status == 503 and "same Idempotency-Key" in unknown.value.detail


def test_a_hot_wallet_is_wallet_busy_once_the_request_time_is_up_not_after_120_s():
    store = store_with(StandInClient(), request_timeout_ms=300,
                       wallets=[write_conflict() for _ in range(10_000)])
    started = time.monotonic()
    with pytest.raises(errors.WalletBusy) as busy:
        store.transaction(move)
    assert time.monotonic() - started < 2, "pymongo's loop stopped at the request's deadline"
    assert busy.value.headers == {"Retry-After": "1"}
    assert store.write_conflicts["wallet"] > 1 and store.transaction_retries > 0


def test_reads_outside_transactions_are_majority_reads_on_real_pymongo_collections():
    client = MongoClient("mongodb://mongo.invalid:27017/?replicaSet=rs0", connect=False)
    try:
        store = MongoStore(client, client["wallet"], COLLECTIONS)
        assert {coll.read_concern.level for coll in vars(store.reader).values()} == {"majority"}
    finally:
        client.close()


def test_an_audit_past_the_snapshot_window_is_503_and_may_read_a_secondary():
    client = StandInClient()
    store = store_with(client, audit_read_preference="secondaryPreferred",
                       wallets=[snapshot_too_old()])
    with pytest.raises(errors.SnapshotTooOld) as too_old:
        store.snapshot(lambda db: db.wallets.find_one({}))
    assert too_old.value.status == 503 and "AUDIT_READ_PREFERENCE" in too_old.value.detail
    assert client.calls == [("start_session", {"snapshot": True})]
    preferences = [call[2]["read_preference"] for call in store.collections["wallets"].calls
                   if call[0] == "with_options" and "read_preference" in call[2]]
    assert preferences == [ReadPreference.SECONDARY_PREFERRED]


def test_the_audit_endpoint_and_the_console_say_so(app, client, monkeypatch):
    def too_old(store, *args, **kwargs):
        raise errors.SnapshotTooOld("window passed")

    monkeypatch.setattr(audit, "verify", too_old)
    monkeypatch.setattr(audit, "verify_platform", too_old)
    response = client.get("/audit", headers=Api.operator)
    assert (response.status_code, response.json["code"]) == (503, "snapshot_too_old")
    monkeypatch.setattr(app.extensions["storage"], "in_process", False)
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 3 and "window passed" in result.output
