"""The MongoDB store's handling of what a server answers, proven on a pymongo-level stand-in.

pymongo's own ``with_transaction`` loop runs (tests/mongo_standin.py); only the
server's answers are scripted, as the real error types with their real codes and
labels. What a real replica set does is tests/test_mongo.py's.
"""
import time

import pytest
from pymongo import MongoClient, ReadPreference
from pymongo.errors import ServerSelectionTimeoutError

from app import audit, errors
from app.db import mongo_collections
from app.mongo_store import READY_AFTER_FAILURES, MongoStore
from conftest import Api, release
from tests.mongo_standin import (StandInClient, StandInCollection, commit_time_limit_passed,
                                 snapshot_too_old, write_conflict)


def store_with(client, request_timeout_ms=15000, **collections):
    names = {"wallets": [], "system_accounts": [], "idempotency": [], **collections}
    return MongoStore(client, {name: StandInCollection(name, scripted)
                               for name, scripted in names.items()},
                      request_timeout_ms=request_timeout_ms)


def move(tx):
    """A unit's writes as the ledger makes them: the sender, a system shard, the receiver."""
    tx.wallets.find_one_and_update({"_id": "sender"}, {"$inc": {"balance_cents": -1}})
    tx.system_accounts.find_one_and_update({"_id": "sys_bank_00"}, {"$inc": {"balance_cents": 1}})
    return "committed"


def test_conflicts_that_clear_commit_and_are_counted_by_class_of_document():
    client = StandInClient()
    store = store_with(client, wallets=[write_conflict(), write_conflict()],
                       system_accounts=[write_conflict()])
    assert store.transaction(move) == "committed"
    assert store.transaction_retries == 3
    assert dict(store.conflicts) == {"client": 2, "system": 1} and store.write_conflicts == 3
    starts = [call for call in client.calls if call[0] == "start_transaction"]
    # Each attempt: snapshot reads, majority writes, on the primary.
    assert starts == [("start_transaction", "snapshot", {"w": "majority"}, "Primary")] * 4


@pytest.mark.parametrize("request_timeout_ms", [0, 15000])
def test_a_commit_past_its_time_limit_is_outcome_unknown_and_not_retried(request_timeout_ms):
    client = StandInClient(commit_errors=[commit_time_limit_passed()])
    store = store_with(client, request_timeout_ms=request_timeout_ms)
    with pytest.raises(errors.OutcomeUnknown) as unknown:
        store.transaction(move)
    assert [call for call in client.calls if call[0] == "commit_transaction"] == [
        ("commit_transaction",)], "pymongo does not retry a commit that passed maxCommitTimeMS"
    assert unknown.value.status == 503 and unknown.value.code == "outcome_unknown"
    assert "same Idempotency-Key" in unknown.value.detail and "journal" in unknown.value.detail


def test_a_hot_wallet_is_wallet_busy_once_the_request_time_is_up_not_after_120_s():
    store = store_with(StandInClient(), request_timeout_ms=300,
                       wallets=[write_conflict() for _ in range(10_000)])
    started = time.monotonic()
    with pytest.raises(errors.WalletBusy) as busy:
        store.transaction(move)
    assert time.monotonic() - started < 2
    assert busy.value.retry_after_s == 1 and "same Idempotency-Key" in busy.value.detail
    assert store.conflicts["client"] > 1 and store.transaction_retries > 0


def test_a_timeout_without_conflicts_is_database_unavailable():
    store = store_with(StandInClient(), wallets=[ServerSelectionTimeoutError("no primary")])
    with pytest.raises(errors.DatabaseUnavailable):
        store.transaction(move)


@pytest.mark.parametrize("error, code, retry_after", [
    (errors.WalletBusy, "wallet_busy", "1"), (errors.OutcomeUnknown, "outcome_unknown", None)])
def test_the_api_answers_503_with_the_code(app, client, monkeypatch, error, code, retry_after):
    api = Api(client)
    _, payer, source = api.member(balance="5.00")
    _, _, target = api.member()

    def refuse(work):
        raise error()

    monkeypatch.setattr(app.extensions["store"], "transaction", refuse)
    response = api.transfer(payer, source, target, "1.00", **{"Idempotency-Key": "k"})
    assert (response.status_code, response.json["code"]) == (503, code)
    assert response.headers.get("Retry-After") == retry_after


def test_ready_stays_through_an_election_and_drops_only_after_repeated_failures():
    no_primary = ServerSelectionTimeoutError("no primary")
    client = StandInClient(ping_errors=[no_primary, no_primary, None] + [no_primary] * READY_AFTER_FAILURES)
    store = MongoStore(client, {})
    answers = [store.ping() for _ in range(3 + READY_AFTER_FAILURES)]
    assert answers == [True, True, True] + [True] * (READY_AFTER_FAILURES - 1) + [False]
    # Any member may answer: a secondary does while the set elects a primary.
    assert {call[2]["read_preference"].name for call in client.calls} == {"PrimaryPreferred"}


def test_reads_outside_transactions_use_read_concern_majority():
    client = MongoClient("mongodb://mongo.invalid:27017/?replicaSet=rs0", connect=False)
    try:
        collections = mongo_collections(client, "wallet")
        assert {c.read_concern.level for c in collections.values()} == {"majority"}
        assert {c.write_concern.document["w"] for c in collections.values()} == {"majority"}
    finally:
        client.close()


def test_an_audit_past_the_snapshot_window_is_a_clear_503():
    client = StandInClient()
    store = MongoStore(client, {"wallets": StandInCollection("wallets", [snapshot_too_old()])},
                       audit_read_preference=ReadPreference.SECONDARY_PREFERRED)
    with pytest.raises(errors.AuditSnapshotTooOld) as too_old:
        store.snapshot(lambda db: db.wallets.find_one({}))
    assert too_old.value.status == 503 and "AUDIT_READ_PREFERENCE" in too_old.value.detail
    assert client.calls == [("start_session", {"snapshot": True})]
    assert ("with_options", (), {"read_preference": ReadPreference.SECONDARY_PREFERRED}) in (
        store.collections["wallets"].calls)


def test_the_audit_endpoint_and_the_console_say_so(app, client, monkeypatch):
    def too_old(store, *args, **kwargs):
        raise errors.AuditSnapshotTooOld("window passed")

    monkeypatch.setattr(audit, "verify", too_old)
    response = client.get("/audit", headers=Api.operator)
    assert (response.status_code, response.json["code"]) == (503, "audit_snapshot_too_old")
    monkeypatch.setattr(app.extensions["store"], "engine", "mongodb")
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 3 and "INCOMPLETE: window passed" in result.output


def test_teardown_closes_the_client_of_each_app():
    class App:
        config = {"MONGO_DB": "wallet_test_x"}
        extensions = {"store": MongoStore(StandInClient(), {})}

    closed = []
    App.extensions["store"].client.drop_database = closed.append
    release(App)
    assert closed == ["wallet_test_x"] and App.extensions["store"].client.closed
