import threading

import pytest

from tests.conftest import check_ledger


def test_transfer_replay_returns_first_response_and_moves_money_once(api, pair_with_key):
    alice, alice_wallet, bob, bob_wallet = pair_with_key
    first = api.transfer(alice, alice_wallet, bob_wallet, "10.00", **{"Idempotency-Key": "t-1"})
    again = api.transfer(alice, alice_wallet, bob_wallet, "10.00", **{"Idempotency-Key": "t-1"})
    assert first.status_code == again.status_code == 201
    assert first.json == again.json
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.balance(alice, alice_wallet) == "90.00"


def test_same_key_different_body_is_refused(api, pair_with_key):
    alice, alice_wallet, _, bob_wallet = pair_with_key
    api.transfer(alice, alice_wallet, bob_wallet, "10.00", **{"Idempotency-Key": "t-2"})
    response = api.transfer(alice, alice_wallet, bob_wallet, "11.00", **{"Idempotency-Key": "t-2"})
    assert response.status_code == 422
    assert response.json["code"] == "idempotency_key_reused"
    assert api.balance(alice, alice_wallet) == "90.00"


def test_refusal_is_replayed_even_after_funds_arrive(api, pair_with_key):
    alice, alice_wallet, _, bob_wallet = pair_with_key
    key = {"Idempotency-Key": "t-3"}
    first = api.transfer(alice, alice_wallet, bob_wallet, "150.00", **key)
    api.deposit(alice_wallet, "100.00")
    again = api.transfer(alice, alice_wallet, bob_wallet, "150.00", **key)
    assert first.status_code == again.status_code == 422
    assert first.json == again.json
    assert again.json["code"] == "insufficient_funds"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.balance(alice, alice_wallet) == "200.00"


def test_keys_are_scoped_to_the_caller(api, pair_with_key):
    alice, alice_wallet, bob, bob_wallet = pair_with_key
    api.deposit(bob_wallet, "5.00")
    a = api.transfer(alice, alice_wallet, bob_wallet, "1.00", **{"Idempotency-Key": "shared"})
    b = api.transfer(bob, bob_wallet, alice_wallet, "2.00", **{"Idempotency-Key": "shared"})
    assert a.status_code == b.status_code == 201
    assert "Idempotent-Replayed" not in b.headers


def test_deposit_replay(api, client):
    _, headers, wallet_id = api.member()
    first = api.deposit(wallet_id, "7.00", **{"Idempotency-Key": "d-1"})
    again = api.deposit(wallet_id, "7.00", **{"Idempotency-Key": "d-1"})
    assert first.json == again.json and again.headers["Idempotent-Replayed"] == "true"
    assert api.balance(headers, wallet_id) == "7.00"


def test_signup_replay(client):
    body = {"email": "replay@example.com", "name": "R", "password": "password123"}
    first = client.post("/clients", json=body, headers={"Idempotency-Key": "c-1"})
    again = client.post("/clients", json=body, headers={"Idempotency-Key": "c-1"})
    assert first.status_code == again.status_code == 201
    assert first.json == again.json
    other = client.post("/clients", json=dict(body, name="X"), headers={"Idempotency-Key": "c-1"})
    assert other.json["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_bad_keys(api, pair_with_key, key):
    alice, alice_wallet, _, bob_wallet = pair_with_key
    response = api.transfer(alice, alice_wallet, bob_wallet, "1.00", **{"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.json["code"] == "invalid_idempotency_key"


def test_concurrent_duplicates_move_money_once(app, api, store, pair_with_key):
    alice, alice_wallet, _, bob_wallet = pair_with_key
    results, barrier = [], threading.Barrier(8)

    def send():
        client = app.test_client()
        barrier.wait()
        body = {"from_wallet_id": alice_wallet, "to_wallet_id": bob_wallet, "amount": "25.00"}
        response = client.post("/transfers", json=body, headers=dict(alice, **{"Idempotency-Key": "race"}))
        results.append((response.status_code, response.json["id"]))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _ in results} == {201}
    assert len({transfer_id for _, transfer_id in results}) == 1
    assert api.balance(alice, alice_wallet) == "75.00"
    check_ledger(store)


@pytest.fixture
def pair_with_key(api):
    _, alice, alice_wallet = api.member(balance="100.00")
    _, bob, bob_wallet = api.member()
    return alice, alice_wallet, bob, bob_wallet


def test_reused_key_is_reported_even_when_the_new_body_is_refused_for_another_reason(api, pair_with_key):
    alice, alice_wallet, _, bob_wallet = pair_with_key
    api.transfer(alice, alice_wallet, bob_wallet, "1.00", **{"Idempotency-Key": "k-same"})
    response = api.transfer(alice, alice_wallet, alice_wallet, "1.00", **{"Idempotency-Key": "k-same"})
    assert response.status_code == 422
    assert response.json["code"] == "idempotency_key_reused"
