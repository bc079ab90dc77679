import pytest

from tests.conftest import check_ledger


@pytest.fixture
def pair(api):
    """Alice with $100.00 and Bob with nothing."""
    _, alice, alice_wallet = api.member(balance="100.00")
    _, bob, bob_wallet = api.member()
    return alice, alice_wallet, bob, bob_wallet


def test_transfer_moves_money_and_journals_both_sides(api, client, store, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    response = api.transfer(alice, alice_wallet, bob_wallet, "30.25")
    assert response.status_code == 201
    body = response.json
    assert set(body) == {"id", "type", "from_wallet_id", "to_wallet_id", "amount", "details",
                         "status", "created_at", "refunded_amount", "refunds", "metadata"}
    assert (body["type"], body["amount"], body["status"]) == ("transfer", "30.25", "posted")
    assert api.balance(alice, alice_wallet) == "69.75"
    assert api.balance(bob, bob_wallet) == "30.25"
    out = client.get(f"/wallets/{alice_wallet}/operations", headers=alice).json["data"][0]
    into = client.get(f"/wallets/{bob_wallet}/operations", headers=bob).json["data"][0]
    assert (out["type"], out["amount"], out["balance_after"], out["counterparty_wallet_id"]) == (
        "transfer_out", "-30.25", "69.75", bob_wallet)
    assert (into["type"], into["amount"], into["balance_after"], into["counterparty_wallet_id"]) == (
        "transfer_in", "30.25", "30.25", alice_wallet)
    assert out["transfer_id"] == into["transfer_id"] == body["id"]
    check_ledger(store)


def test_transfer_of_the_whole_balance(api, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    assert api.transfer(alice, alice_wallet, bob_wallet, "100.00").status_code == 201
    assert api.balance(alice, alice_wallet) == "0.00"


def test_insufficient_funds_changes_nothing(api, client, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    response = api.transfer(alice, alice_wallet, bob_wallet, "100.01")
    assert response.status_code == 422
    assert response.json["code"] == "insufficient_funds"
    wallet = client.get(f"/wallets/{alice_wallet}", headers=alice).json
    assert (wallet["balance"], wallet["version"]) == ("100.00", 1)
    assert api.balance(bob, bob_wallet) == "0.00"


def test_from_a_wallet_the_caller_does_not_own(api, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    response = api.transfer(bob, alice_wallet, bob_wallet, "1.00")
    assert response.status_code == 404
    assert response.json["code"] == "wallet_not_found"
    assert api.balance(alice, alice_wallet) == "100.00"


def test_unknown_receiver(api, pair):
    alice, alice_wallet, _, _ = pair
    response = api.transfer(alice, alice_wallet, "wal_nobody", "1.00")
    assert response.status_code == 422
    assert response.json["code"] == "wallet_not_found"
    assert api.balance(alice, alice_wallet) == "100.00"


def test_same_wallet(api, pair):
    alice, alice_wallet, _, _ = pair
    response = api.transfer(alice, alice_wallet, alice_wallet, "1.00")
    assert response.status_code == 422
    assert response.json["code"] == "accounts_must_be_different"


def test_operator_cannot_transfer(api, pair):
    _, alice_wallet, _, bob_wallet = pair
    assert api.transfer(api.operator, alice_wallet, bob_wallet, "1.00").status_code == 403
    assert api.transfer({}, alice_wallet, bob_wallet, "1.00").status_code == 401


@pytest.mark.parametrize("amount", ["0", "-5", "1.001", "1e3", "", None, 10, "1000000000.01"])
def test_bad_amounts(api, pair, amount):
    alice, alice_wallet, _, bob_wallet = pair
    response = api.transfer(alice, alice_wallet, bob_wallet, amount)
    assert response.status_code == 400
    assert [e["field"] for e in response.json["errors"]] == ["/amount"]


def test_missing_fields_are_all_reported(api, pair):
    alice = pair[0]
    response = api.client.post("/transfers", json={}, headers=alice)
    assert {e["field"] for e in response.json["errors"]} == {
        "/from_wallet_id", "/to_wallet_id", "/amount"}


def test_get_transfer_by_party_and_operator_only(api, client, pair):
    alice, alice_wallet, bob, bob_wallet = pair
    _, stranger, _ = api.member()
    transfer = api.transfer(alice, alice_wallet, bob_wallet, "1.00", ).json
    for who in (alice, bob, api.operator):
        response = client.get(f"/transfers/{transfer['id']}", headers=who)
        assert response.status_code == 200
        assert response.json == transfer
    assert client.get(f"/transfers/{transfer['id']}", headers=stranger).status_code == 404
    assert client.get("/transfers/tr_nope", headers=alice).status_code == 404
    assert client.get(f"/transfers/{transfer['id']}").status_code == 401


def test_details_are_kept(api, pair):
    alice, alice_wallet, _, bob_wallet = pair
    body = {"from_wallet_id": alice_wallet, "to_wallet_id": bob_wallet, "amount": "2.00",
            "details": "rent, \"march\" <b>&"}
    response = api.client.post("/transfers", json=body, headers=alice)
    assert response.json["details"] == body["details"]


def test_details_with_a_lone_surrogate_is_refused_and_moves_nothing(api, pair):
    alice, alice_wallet, _, bob_wallet = pair
    raw = ('{"from_wallet_id": "%s", "to_wallet_id": "%s", "amount": "1.00", "details": "a\\ud800b"}'
           % (alice_wallet, bob_wallet))
    response = api.client.post("/transfers", data=raw, content_type="application/json", headers=alice)
    assert response.status_code == 400
    assert response.json["code"] == "malformed_json"
    assert api.balance(alice, alice_wallet) == "100.00"
