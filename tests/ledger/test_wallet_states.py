"""Wallet states over HTTP: freeze stops money leaving, close is for good, a race has one order."""
import pytest

from tests.conftest import OPERATOR_TOKEN, check_ledger, run_at_once

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
BANK = {"type": "bank_account", "account": "DE89370400440532013000"}


def state(client, wallet_id, verb, reason="under review"):
    body = None if verb == "unfreeze" else {"reason": reason}
    return client.post(f"/wallets/{wallet_id}/{verb}", json=body, headers=OPERATOR)


@pytest.fixture
def pair(api):
    _, ada, ada_wallet = api.member(balance="100.00")
    _, bob, bob_wallet = api.member(balance="100.00")
    return ada, ada_wallet, bob, bob_wallet


def test_freeze_refuses_every_debit_path_and_lets_money_in(api, client, pair, store):
    ada, ada_wallet, bob, bob_wallet = pair
    hold = client.post("/holds", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                       "amount": "10.00"}, headers=ada).json
    paid = api.transfer(bob, bob_wallet, ada_wallet, "5.00").json
    asked = client.post("/payment-requests", json={"to_wallet_id": bob_wallet, "from_wallet_id": ada_wallet,
                                                   "amount": "1.00"}, headers=bob).json
    frozen = state(client, ada_wallet, "freeze")
    assert (frozen.status_code, frozen.json["status"], frozen.json["status_reason"]) == (
        200, "frozen", "under review")
    refusals = {
        "transfer": api.transfer(ada, ada_wallet, bob_wallet, "1.00"),
        "hold": client.post("/holds", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                            "amount": "1.00"}, headers=ada),
        "withdrawal": client.post("/withdrawals", json={"wallet_id": ada_wallet, "amount": "1.00",
                                                        "destination": BANK}, headers=ada),
        "approval": client.post(f"/payment-requests/{asked['id']}/approve", headers=ada),
        "refund": client.post(f"/transfers/{paid['id']}/refunds", json={}, headers=ada),
    }
    for path, response in refusals.items():
        assert (response.status_code, response.json["code"]) == (422, "wallet_frozen"), path
    batch = client.post("/transfer-batches", json={"mode": "independent", "transfers": [
        {"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet, "amount": "1.00"}]}, headers=ada).json
    assert batch["results"][0]["error"]["code"] == "wallet_frozen"
    # Money may come in; a capture of a hold placed before pays out money already reserved.
    assert api.transfer(bob, bob_wallet, ada_wallet, "2.00").status_code == 201
    assert api.deposit(ada_wallet, "3.00").status_code == 201
    capture = client.post(f"/holds/{hold['id']}/capture", json={"amount": "4.00"}, headers=bob)
    assert capture.status_code == 200, capture.json
    assert api.balance(ada, ada_wallet) == "106.00"  # 100 + 5 + 2 + 3 - 4
    assert state(client, ada_wallet, "unfreeze").json["status"] == "active"
    assert api.transfer(ada, ada_wallet, bob_wallet, "1.00").status_code == 201
    types = [e["type"] for e in client.get("/events?limit=100", headers=OPERATOR).json["data"]]
    assert types.count("wallet.frozen") == 1 and types.count("wallet.unfrozen") == 1
    check_ledger(store)


def test_a_freeze_racing_eight_transfers_out_has_one_order(app, api, pair, store):
    """Every transfer either committed before the freeze or was refused after it, never both."""
    ada, ada_wallet, _, bob_wallet = pair
    clients = [app.test_client() for _ in range(9)]

    def act(index):
        if index == 8:
            return clients[index].post(f"/wallets/{ada_wallet}/freeze", json={"reason": "race"},
                                       headers=OPERATOR)
        body = {"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet, "amount": "1.00"}
        return clients[index].post("/transfers", json=body, headers=ada)

    results = run_at_once(9, act)
    assert results[8].status_code == 200
    codes = [r.status_code if r.status_code == 201 else r.json["code"] for r in results[:8]]
    assert set(codes) <= {201, "wallet_frozen"}, codes
    posted = codes.count(201)
    ops = api.client.get(f"/wallets/{ada_wallet}/operations?limit=100", headers=OPERATOR).json["data"]
    frozen_at = next(e for e in store.collections["events"].find({"type": "wallet.frozen"}))
    out = [e for e in ops if e["type"] == "transfer_out"]
    assert len(out) == posted
    # One order: no transfer out committed after the freeze (its wallet version is the journal's seq).
    assert all(e["seq"] <= frozen_at["data"]["version"] for e in out)
    assert api.balance(ada, ada_wallet) == f"{100 - posted}.00"
    check_ledger(store)


def test_close_is_refused_while_anything_is_pending_then_is_for_good(api, client, pair, store):
    ada, ada_wallet, bob, bob_wallet = pair
    refused = state(client, ada_wallet, "close")
    assert (refused.status_code, refused.json["code"]) == (409, "wallet_not_empty")  # money
    api.transfer(ada, ada_wallet, bob_wallet, "100.00")
    asked = client.post("/payment-requests", json={"to_wallet_id": bob_wallet, "from_wallet_id": ada_wallet,
                                                   "amount": "1.00"}, headers=bob).json
    assert state(client, ada_wallet, "close").json["code"] == "wallet_not_empty"  # a pending request
    client.post(f"/payment-requests/{asked['id']}/decline", headers=ada)
    hold = client.post("/holds", json={"from_wallet_id": bob_wallet, "to_wallet_id": ada_wallet,
                                       "amount": "1.00"}, headers=bob).json
    assert state(client, ada_wallet, "close").json["code"] == "wallet_not_empty"  # a hold to receive
    client.post(f"/holds/{hold['id']}/void", headers=OPERATOR)
    closed = state(client, ada_wallet, "close", "customer left")
    assert (closed.status_code, closed.json["status"]) == (200, "closed")
    for response in (api.deposit(ada_wallet, "1.00"), api.transfer(bob, bob_wallet, ada_wallet, "1.00"),
                     client.post("/payment-requests", json={"to_wallet_id": bob_wallet,
                                                            "from_wallet_id": ada_wallet, "amount": "1.00"},
                                 headers=bob)):
        assert (response.status_code, response.json["code"]) == (422, "wallet_closed")
    for verb in ("unfreeze", "freeze", "close"):
        assert state(client, ada_wallet, verb).json["code"] == "invalid_wallet_transition"
    assert state(client, "wal_nope", "freeze").status_code == 404
    check_ledger(store)


def test_the_audit_flags_a_closed_wallet_that_holds_money(api, pair, store):
    from app import audit
    _, ada_wallet, _, _ = pair
    store.collections["wallets"].update_one({"_id": ada_wallet}, {"$set": {"status": "closed"}})
    report = audit.verify(store)
    assert [v["rule"] for v in report.violations] == ["closed_wallet_is_empty"]


def test_a_debit_with_its_owner_in_the_filter_names_refusals_in_their_order(api, client, pair, store):
    """The sender's debit carries its owner and its state: another's wallet is 404 whatever its
    state, and a missing receiver is named before the sender's state."""
    ada, ada_wallet, bob, bob_wallet = pair
    state(client, ada_wallet, "freeze")
    not_yours = api.transfer(bob, ada_wallet, bob_wallet, "1.00")
    assert (not_yours.status_code, not_yours.json["code"]) == (404, "wallet_not_found")
    no_receiver = api.transfer(ada, ada_wallet, "wal_" + "0" * 24, "1.00")
    assert (no_receiver.status_code, no_receiver.json["code"]) == (422, "wallet_not_found")
    assert api.transfer(ada, ada_wallet, bob_wallet, "1.00").json["code"] == "wallet_frozen"
    check_ledger(store)


@pytest.mark.parametrize("mode", ["independent", "atomic"])
def test_a_batch_posted_at_once_meets_a_closed_receiver(api, client, pair, store, mode):
    """Items posted at once carry the state clause too: a closed receiver refuses its item, named."""
    ada, ada_wallet, _, bob_wallet = pair
    _, _, gone_wallet = api.member()
    assert state(client, gone_wallet, "close").status_code == 200
    items = [{"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet, "amount": "1.00",
              "metadata": {"line": "1"}},
             {"from_wallet_id": ada_wallet, "to_wallet_id": gone_wallet, "amount": "2.00"}]
    batch = client.post("/transfer-batches", json={"mode": mode, "transfers": items}, headers=ada).json
    codes = [r["error"]["code"] if r["error"] else r["status"] for r in batch["results"]]
    if mode == "atomic":
        assert codes == ["batch_failed", "wallet_closed"] and api.balance(ada, ada_wallet) == "100.00"
    else:
        assert codes == ["posted", "wallet_closed"] and api.balance(ada, ada_wallet) == "99.00"
        posted = client.get(f"/transfers/{batch['results'][0]['transfer_id']}", headers=ada).json
        assert posted["metadata"] == {"line": "1"} and posted["batch_id"] == batch["id"]
    check_ledger(store)
