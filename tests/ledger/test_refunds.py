"""Refunds: new transfers back to the payer, never together more than the original."""

import pytest

from app import ledger
from tests.conftest import check_ledger, run_at_once


@pytest.fixture
def paid(api):
    """Ada paid Bob $100.00 (transfer id); Bob has exactly that."""
    _, ada, ada_wallet = api.member(balance="100.00")
    _, bob, bob_wallet = api.member()
    transfer_id = api.transfer(ada, ada_wallet, bob_wallet, "100.00").json["id"]
    return ada, ada_wallet, bob, bob_wallet, transfer_id


def refund(client, transfer_id, headers, key=None, **body):
    headers = dict(headers, **{"Idempotency-Key": key}) if key else headers
    return client.post(f"/transfers/{transfer_id}/refunds", json=body, headers=headers)


def test_a_full_refund_is_a_transfer_back_that_points_at_the_original(api, client, store, paid):
    ada, ada_wallet, bob, bob_wallet, transfer_id = paid
    response = refund(client, transfer_id, bob, details="order cancelled")
    assert response.status_code == 201
    body = response.json
    assert (body["type"], body["from_wallet_id"], body["to_wallet_id"], body["amount"], body["status"],
            body["refund_of"], body["details"]) == (
        "refund", bob_wallet, ada_wallet, "100.00", "posted", transfer_id, "order cancelled")
    assert (api.balance(ada, ada_wallet), api.balance(bob, bob_wallet)) == ("100.00", "0.00")
    original = client.get(f"/transfers/{transfer_id}", headers=ada).json
    assert (original["amount"], original["refunded_amount"], original["refunds"]) == (
        "100.00", "100.00", [body["id"]])
    entries = list(store.collections["operations"].find({"transfer_id": body["id"]}))
    assert sorted((e["type"], e["amount_cents"], e["links"]["refund_of"]) for e in entries) == [
        ("refund_in", 10000, transfer_id), ("refund_out", -10000, transfer_id)]
    latest = client.get(f"/wallets/{ada_wallet}/operations", headers=ada).json["data"][0]
    assert (latest["type"], latest["amount"]) == ("refund_in", "100.00")
    events = list(store.collections["events"].find({"type": "refund.posted"}))
    assert [e["data"] for e in events] == [body]
    check_ledger(store)


def test_partial_refunds_add_up_to_the_original_and_no_further(client, api, paid):
    ada, ada_wallet, bob, bob_wallet, transfer_id = paid
    assert refund(client, transfer_id, bob, amount="30.00").status_code == 201
    assert refund(client, transfer_id, api.operator, amount="50.00").status_code == 201
    refused = refund(client, transfer_id, bob, amount="20.01")
    assert (refused.status_code, refused.json["code"]) == (422, "exceeds_refundable_amount")
    assert api.balance(bob, bob_wallet) == "20.00"
    rest = refund(client, transfer_id, bob)  # without amount: all that is left
    assert (rest.status_code, rest.json["amount"]) == (201, "20.00")
    assert refund(client, transfer_id, bob).json["code"] == "exceeds_refundable_amount"
    original = client.get(f"/transfers/{transfer_id}", headers=bob).json
    assert (original["refunded_amount"], len(original["refunds"])) == ("100.00", 3)
    assert api.balance(ada, ada_wallet) == "100.00"


def test_the_receiver_short_of_money_cannot_refund_and_a_retry_never_flips(client, api, paid):
    ada, ada_wallet, bob, bob_wallet, transfer_id = paid
    assert api.transfer(bob, bob_wallet, ada_wallet, "90.00").status_code == 201
    refused = refund(client, transfer_id, bob, key="r-1", amount="50.00")
    assert (refused.status_code, refused.json["code"]) == (422, "insufficient_funds")
    api.deposit(bob_wallet, "100.00")
    again = refund(client, transfer_id, bob, key="r-1", amount="50.00")
    assert (again.json["code"], again.headers["Idempotent-Replayed"]) == ("insufficient_funds", "true")
    assert client.get(f"/transfers/{transfer_id}", headers=bob).json["refunded_amount"] == "0.00"


def test_deposits_and_refunds_are_not_refundable(client, api, store, paid):
    ada, ada_wallet, bob, _, transfer_id = paid
    given_back = refund(client, transfer_id, bob, amount="1.00").json["id"]
    for target, who in ((given_back, ada), (given_back, api.operator)):
        refused = refund(client, target, who)
        assert (refused.status_code, refused.json["code"]) == (422, "not_refundable")
    deposit = store.collections["transfers"].find_one({"type": "deposit", "to_wallet_id": ada_wallet})
    assert refund(client, deposit["_id"], api.operator).json["code"] == "not_refundable"


def test_only_the_receiver_or_the_operator_may_refund(client, api, paid):
    ada, _, _, _, transfer_id = paid
    _, stranger, _ = api.member()
    for who in (ada, stranger):
        refused = refund(client, transfer_id, who)
        assert (refused.status_code, refused.json["code"]) == (404, "transfer_not_found")
    assert refund(client, "tr_nope", api.operator).status_code == 404
    assert refund(client, transfer_id, {}).status_code == 401
    assert refund(client, transfer_id, api.operator, amount="1.00").status_code == 201


def test_a_replayed_refund_has_one_effect(client, api, paid):
    _, _, bob, bob_wallet, transfer_id = paid
    first = refund(client, transfer_id, bob, key="r-1", amount="10.00")
    second = refund(client, transfer_id, bob, key="r-1", amount="10.00")
    assert (second.status_code, second.json) == (201, first.json)
    assert second.headers["Idempotent-Replayed"] == "true"
    reused = refund(client, transfer_id, bob, key="r-1", amount="11.00")
    assert reused.json["code"] == "idempotency_key_reused"
    assert api.balance(bob, bob_wallet) == "90.00"


def test_ten_concurrent_partial_refunds_never_exceed_the_original(app, api, store, paid):
    _, _, bob, bob_wallet, transfer_id = paid
    responses = run_at_once(10, lambda i: refund(app.test_client(), transfer_id, bob, key=f"r{i}",
                                                 amount="30.00"))
    assert sorted(r.status_code for r in responses) == [201] * 3 + [422] * 7
    assert {r.json["code"] for r in responses if r.status_code == 422} == {"exceeds_refundable_amount"}
    original = store.collections["transfers"].find_one({"_id": transfer_id})
    assert (original["refunded_cents"], len(original["refunds"])) == (9000, 3)
    assert api.balance(bob, bob_wallet) == "10.00"
    check_ledger(store)


def test_concurrent_duplicates_of_one_refund_have_one_effect(app, api, store, paid):
    _, _, bob, bob_wallet, transfer_id = paid
    responses = run_at_once(8, lambda i: refund(app.test_client(), transfer_id, bob, key="same",
                                                amount="5.00"))
    assert {r.status_code for r in responses} == {201} and len({r.json["id"] for r in responses}) == 1
    assert api.balance(bob, bob_wallet) == "95.00"


def test_the_ledger_refuses_without_http(store, paid):
    """The rules live in app/ledger/refunds.py: the same refusals called directly."""
    _, _, _, _, transfer_id = paid
    original = store.collections["transfers"].find_one({"_id": transfer_id})
    with pytest.raises(ledger.refunds.errors.TransferNotFound):
        ledger.refund(store, original["from_client_id"], transfer_id, 100)
    with pytest.raises(ledger.refunds.errors.ExceedsRefundableAmount):
        ledger.refund(store, None, transfer_id, 10_001)
    made, replayed = ledger.refund(store, original["to_client_id"], transfer_id)
    assert (made["amount_cents"], made["links"]["refund_of"], replayed) == (10_000, transfer_id, False)
