"""Wallet limits: each rule and its refusal, a concurrent storm, the UTC day roll-over."""
import threading
from datetime import datetime, time, timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from app import errors
from app.ledger import limits, units
from tests.conftest import check_ledger, make_app

NO_LIMITS = {"max_balance": None, "per_transfer_max": None, "daily_out_amount": None,
             "daily_out_count": None}


@pytest.fixture
def pair(api):
    """Alice with $100.00 and Bob with nothing."""
    _, alice, alice_wallet = api.member(balance="100.00")
    _, bob, bob_wallet = api.member()
    return alice, alice_wallet, bob, bob_wallet


def put_limits(client, api, wallet_id, **values):
    response = client.put(f"/wallets/{wallet_id}/limits", json=values, headers=api.operator)
    assert response.status_code == 200, response.json
    return response.json


def wallet_state(client, api, wallet_id):
    wallet = client.get(f"/wallets/{wallet_id}", headers=api.operator).json
    return wallet["balance"], wallet["version"]


def assert_refused(response, limit, remaining):
    assert response.status_code == 422, response.json
    assert (response.json["code"], response.json["limit"], response.json["remaining"]) == (
        "limit_exceeded", limit, remaining)


def test_a_new_wallet_has_no_limits(api, client, pair):
    alice, alice_wallet, _, _ = pair
    body = client.get(f"/wallets/{alice_wallet}/limits", headers=alice).json
    assert body["limits"] == body["remaining"] == NO_LIMITS
    assert body["usage"] == {"day": units.now().date().isoformat(), "out_amount": "0.00", "out_count": 0}


def test_put_sets_removes_and_keeps(api, client, pair):
    _, alice_wallet, _, _ = pair
    assert put_limits(client, api, alice_wallet, daily_out_count=29)["daily_out_count"] == 29
    assert put_limits(client, api, alice_wallet, max_balance="1000", daily_out_count=3) == dict(
        NO_LIMITS, max_balance="1000.00", daily_out_count=3)
    # A field left out keeps its value; null removes the limit.
    assert put_limits(client, api, alice_wallet, max_balance=None, per_transfer_max="5.5") == dict(
        NO_LIMITS, per_transfer_max="5.50", daily_out_count=3)


def test_the_admin_log_holds_the_limits_before_and_after_as_stored(api, client, pair, store):
    _, alice_wallet, _, _ = pair

    def stored():
        return store.read(lambda db: db.wallets.find_one({"_id": alice_wallet})).get("limits") or {}

    first = stored()
    put_limits(client, api, alice_wallet, max_balance="1000", daily_out_count=3)
    second = stored()
    put_limits(client, api, alice_wallet, max_balance=None, per_transfer_max="5.5")
    third = stored()
    log = [entry for entry in client.get("/admin-log?limit=100", headers=api.operator).json["data"]
           if entry["action"] == "limits.changed" and entry["target"]["id"] == alice_wallet]
    assert [(entry["before"], entry["after"]) for entry in log] == [(second, third), (first, second)]
    assert third == {"per_transfer_max_cents": 550, "daily_out_count": 3}  # max_balance removed


@pytest.mark.parametrize("body, field", [
    ({"max_balance": "0"}, "/max_balance"), ({"daily_out_amount": 5}, "/daily_out_amount"),
    ({"per_transfer_max": "1.001"}, "/per_transfer_max"), ({"daily_out_count": -1}, "/daily_out_count"),
    ({"daily_out_count": "3"}, "/daily_out_count"), ({"daily_out_count": True}, "/daily_out_count"),
    ({"daily_out_count": 29.0}, "/daily_out_count"),
    ({"weekly": "1.00"}, "/weekly")])
def test_put_refuses_bad_limits(api, client, pair, body, field):
    _, alice_wallet, _, _ = pair
    response = client.put(f"/wallets/{alice_wallet}/limits", json=body, headers=api.operator)
    assert response.status_code == 400 and response.json["code"] == "validation_failed"
    assert [e["field"] for e in response.json["errors"]] == [field]


def test_only_the_operator_sets_limits_and_only_readers_see_them(api, client, pair):
    alice, alice_wallet, bob, _ = pair
    response = client.put(f"/wallets/{alice_wallet}/limits", json={"max_balance": "1"}, headers=alice)
    assert response.status_code == 403
    assert client.get(f"/wallets/{alice_wallet}/limits", headers=bob).status_code == 404
    response = client.put("/wallets/wal_nope/limits", json={}, headers=api.operator)
    assert response.status_code == 404 and response.json["code"] == "wallet_not_found"


def test_per_transfer_max_refuses_and_changes_nothing(api, client, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    put_limits(client, api, alice_wallet, per_transfer_max="25.00")
    assert_refused(api.transfer(alice, alice_wallet, bob_wallet, "25.01"), "per_transfer_max", "25.00")
    assert wallet_state(client, api, alice_wallet) == ("100.00", 1)
    assert wallet_state(client, api, bob_wallet) == ("0.00", 0)
    assert api.transfer(alice, alice_wallet, bob_wallet, "25.00").status_code == 201


def test_max_balance_caps_deposits_and_transfers_in(api, client, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    put_limits(client, api, bob_wallet, max_balance="50.00")
    assert api.deposit(bob_wallet, "30.00").status_code == 201
    assert_refused(api.deposit(bob_wallet, "20.01"), "max_balance", "20.00")
    assert_refused(api.transfer(alice, alice_wallet, bob_wallet, "20.01"), "max_balance", "20.00")
    assert wallet_state(client, api, alice_wallet) == ("100.00", 1)
    assert api.transfer(alice, alice_wallet, bob_wallet, "20.00").status_code == 201
    assert wallet_state(client, api, bob_wallet) == ("50.00", 2)
    check_ledger(client.application.extensions["store"].tenant("default"))


def test_daily_out_amount_and_count(api, client, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    put_limits(client, api, alice_wallet, daily_out_amount="30.00", daily_out_count=3)
    for amount in ("10.00", "15.00"):
        assert api.transfer(alice, alice_wallet, bob_wallet, amount).status_code == 201
    assert_refused(api.transfer(alice, alice_wallet, bob_wallet, "5.01"), "daily_out_amount", "5.00")
    assert api.transfer(alice, alice_wallet, bob_wallet, "1.00").status_code == 201
    assert_refused(api.transfer(alice, alice_wallet, bob_wallet, "0.01"), "daily_out_count", 0)
    body = client.get(f"/wallets/{alice_wallet}/limits", headers=alice).json
    assert body["usage"]["out_amount"] == "26.00" and body["usage"]["out_count"] == 3
    assert body["remaining"] == dict(NO_LIMITS, daily_out_amount="4.00", daily_out_count=0)
    assert wallet_state(client, api, alice_wallet) == ("74.00", 4)


def test_a_refusal_is_replayed_with_its_limit_even_after_the_limit_is_lifted(api, client, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    put_limits(client, api, alice_wallet, per_transfer_max="1.00")
    key = {"Idempotency-Key": "pay-1"}
    first = api.transfer(alice, alice_wallet, bob_wallet, "2.00", **key)
    put_limits(client, api, alice_wallet, per_transfer_max=None)
    again = api.transfer(alice, alice_wallet, bob_wallet, "2.00", **key)
    assert_refused(again, "per_transfer_max", "1.00")
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert wallet_state(client, api, alice_wallet) == ("100.00", 1)


def test_concurrent_debits_never_pass_the_daily_limit(app, api, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    put_limits(app.test_client(), api, alice_wallet, daily_out_amount="55.00")
    start, codes = threading.Barrier(16), []

    def pay():
        client = app.test_client()
        start.wait()
        for _ in range(3):
            codes.append(client.post("/transfers", headers=alice, json={
                "from_wallet_id": alice_wallet, "to_wallet_id": bob_wallet, "amount": "10.00"}).status_code)

    threads = [threading.Thread(target=pay) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [201] * 5 + [422] * 43
    assert wallet_state(app.test_client(), api, alice_wallet) == ("50.00", 6)
    assert wallet_state(app.test_client(), api, bob_wallet) == ("50.00", 5)
    check_ledger(app.extensions["store"].tenant("default"))


def test_the_day_rolls_over_at_midnight_utc(api, client, pair, monkeypatch):
    alice, alice_wallet, bob, bob_wallet = pair
    put_limits(client, api, alice_wallet, daily_out_amount="10.00")
    # Today's last millisecond (a real date: usage documents expire 35 days after their day).
    today = units.now().date()
    clock = [datetime.combine(today + timedelta(days=1), time()) - timedelta(milliseconds=1)]
    monkeypatch.setattr(units, "now", lambda: clock[0])
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert api.transfer(alice, alice_wallet, bob_wallet, "10.00").status_code == 201
    assert_refused(api.transfer(alice, alice_wallet, bob_wallet, "0.01"), "daily_out_amount", "0.00")
    body = client.get(f"/wallets/{alice_wallet}/limits", headers=alice).json
    assert (body["usage"]["day"], body["resets_at"]) == (today.isoformat(), f"{tomorrow}T00:00:00.000Z")
    clock[0] += timedelta(milliseconds=1)
    body = client.get(f"/wallets/{alice_wallet}/limits", headers=alice).json
    assert body["usage"] == {"day": tomorrow, "out_amount": "0.00", "out_count": 0}
    assert api.transfer(alice, alice_wallet, bob_wallet, "10.00").status_code == 201
    assert_refused(api.transfer(alice, alice_wallet, bob_wallet, "0.01"), "daily_out_amount", "0.00")


def test_default_limits_apply_to_new_wallets_and_own_limits_override_them():
    from tests.conftest import Api
    app = make_app(DEFAULT_LIMITS='{"max_balance": "1000.00", "daily_out_amount": "500.00"}')
    api = Api(app.test_client())
    _, alice, alice_wallet = api.member(balance="1000.00")
    _, _, bob_wallet = api.member()
    assert_refused(api.deposit(alice_wallet, "0.01"), "max_balance", "0.00")
    assert_refused(api.transfer(alice, alice_wallet, bob_wallet, "500.01"), "daily_out_amount", "500.00")
    put_limits(api.client, api, alice_wallet, daily_out_amount="2000.00", max_balance=None)
    assert api.transfer(alice, alice_wallet, bob_wallet, "600.00").status_code == 201
    assert api.deposit(alice_wallet, "5000.00").status_code == 201


@pytest.mark.parametrize("value", ['{"max_balance": 5}', '{"hourly": "1.00"}', "[1", '["x"]'])
def test_bad_default_limits_stop_the_start(value):
    with pytest.raises(RuntimeError, match="DEFAULT_LIMITS"):
        make_app(DEFAULT_LIMITS=value)


def test_a_wallet_without_daily_limits_writes_no_usage(api, store, pair):
    alice, alice_wallet, _, bob_wallet = pair
    assert api.transfer(alice, alice_wallet, bob_wallet, "1.00").status_code == 201
    assert store.read(lambda db: db.limit_usage.count_documents({})) == 0


def test_charge_out_and_give_back_for_holds(store, api, pair):
    """The hook holds use: a hold counts when placed, and is given back when voided."""
    _, alice_wallet, _, _ = pair
    store.transaction(lambda tx: tx.wallets.find_one_and_update(
        {"_id": alice_wallet}, {"$set": {"limits.daily_out_amount_cents": 1000}}))
    moment = units.now()
    wallet = store.read(lambda db: db.wallets.find_one({"_id": alice_wallet}))
    day = store.transaction(lambda tx: limits.charge_out(tx, wallet, 600, moment))
    with pytest.raises(errors.LimitExceeded) as refused:
        store.transaction(lambda tx: limits.charge_out(tx, wallet, 401, moment))
    assert (refused.value.limit, refused.value.remaining) == ("daily_out_amount", "4.00")
    store.transaction(lambda tx: limits.give_back(tx, alice_wallet, 600, day))
    assert store.transaction(lambda tx: limits.charge_out(tx, wallet, 1000, moment)) == day


def test_a_refused_unit_leaves_no_usage_document(store, api, pair):
    _, alice_wallet, _, _ = pair
    store.transaction(lambda tx: tx.wallets.find_one_and_update(
        {"_id": alice_wallet}, {"$set": {"limits.daily_out_count": 0}}))
    wallet = store.read(lambda db: db.wallets.find_one({"_id": alice_wallet}))
    with pytest.raises(errors.LimitExceeded):
        store.transaction(lambda tx: limits.charge_out(tx, wallet, 1, units.now()))
    assert store.read(lambda db: db.limit_usage.count_documents({})) == 0


def test_a_unit_that_loses_an_insert_race_runs_again(store):
    """Two first-of-the-day writers: the loser's DuplicateKeyError re-runs its unit."""
    attempts = []

    def work(tx):
        attempts.append(1)
        if len(attempts) == 1:
            raise DuplicateKeyError("E11000 duplicate key: limit_usage")
        return units.success("ok")

    assert units.run(store, None, work) == ("ok", False)
    assert len(attempts) == 2


def hold(api, headers, from_id, to_id, amount, **extra):
    body = dict({"from_wallet_id": from_id, "to_wallet_id": to_id, "amount": amount}, **extra)
    return api.client.post("/holds", json=body, headers=headers)


def usage(client, headers, wallet_id):
    body = client.get(f"/wallets/{wallet_id}/limits", headers=headers).json["usage"]
    return body["out_amount"], body["out_count"]


def test_a_hold_counts_when_placed_and_is_given_back_when_voided(api, client, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    put_limits(client, api, alice_wallet, daily_out_amount="50.00", per_transfer_max="40.00")
    assert_refused(hold(api, alice, alice_wallet, bob_wallet, "40.01"), "per_transfer_max", "40.00")
    placed = hold(api, alice, alice_wallet, bob_wallet, "40.00")
    assert placed.status_code == 201 and usage(client, alice, alice_wallet) == ("40.00", 1)
    assert_refused(api.transfer(alice, alice_wallet, bob_wallet, "10.01"), "daily_out_amount", "10.00")
    assert_refused(hold(api, alice, alice_wallet, bob_wallet, "10.01"), "daily_out_amount", "10.00")
    # A capture was counted when the hold was placed: it does not count again.
    captured = client.post(f"/holds/{placed.json['id']}/capture", json={"amount": "15.00"}, headers=bob)
    assert captured.status_code == 200 and usage(client, alice, alice_wallet) == ("40.00", 1)
    voided = client.post(f"/holds/{placed.json['id']}/void", headers=bob)
    assert voided.status_code == 200 and usage(client, alice, alice_wallet) == ("15.00", 1)
    assert wallet_state(client, api, alice_wallet) == ("85.00", 2)
    check_ledger(client.application.extensions["store"].tenant("default"))


def test_an_expired_hold_gives_its_amount_back(api, client, store, pair, monkeypatch):
    alice, alice_wallet, bob, bob_wallet = pair
    put_limits(client, api, alice_wallet, daily_out_amount="50.00", daily_out_count=1)
    assert hold(api, alice, alice_wallet, bob_wallet, "50.00", expires_in_s=1).status_code == 201
    assert_refused(api.transfer(alice, alice_wallet, bob_wallet, "1.00"), "daily_out_amount", "0.00")
    later = units.now() + timedelta(seconds=2)
    monkeypatch.setattr(units, "now", lambda: later)
    # The debit first writes down its wallet's due expiries, in its own unit: the room is back.
    assert api.transfer(alice, alice_wallet, bob_wallet, "50.00").status_code == 201
    assert usage(client, alice, alice_wallet) == ("50.00", 1)


def test_max_balance_holds_on_a_capture(api, client, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    placed = hold(api, alice, alice_wallet, bob_wallet, "30.00").json
    put_limits(client, api, bob_wallet, max_balance="20.00")
    refused = client.post(f"/holds/{placed['id']}/capture", json={}, headers=bob)
    assert_refused(refused, "max_balance", "20.00")
    assert client.post(f"/holds/{placed['id']}/capture", json={"amount": "20.00"},
                       headers=bob).status_code == 200
    assert wallet_state(client, api, bob_wallet) == ("20.00", 1)
