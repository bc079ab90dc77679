"""Holds: reserve, capture in parts, void, expire; races settled in the database."""
import threading
import time
from datetime import timedelta

import pytest

from app import ledger
from app.ledger import sweeper, units
from tests.conftest import check_ledger


def place(api, headers, from_id, to_id, amount, **extra):
    body = dict({"from_wallet_id": from_id, "to_wallet_id": to_id, "amount": amount},
                **{k: v for k, v in extra.items() if k in ("details", "expires_in_s")})
    keyed = {k: v for k, v in extra.items() if k == "Idempotency-Key"}
    return api.client.post("/holds", json=body, headers=dict(headers, **keyed))


def wallet(api, headers, wallet_id):
    body = api.client.get(f"/wallets/{wallet_id}", headers=headers).json
    return body["balance"], body["held"], body["available"]


@pytest.fixture
def escrow(api):
    """Ada (100.00) pays Bob through holds."""
    _, ada, ada_wallet = api.member(balance="100.00")
    _, bob, bob_wallet = api.member()
    return api, ada, ada_wallet, bob, bob_wallet


def test_a_hold_moves_available_to_held_and_leaves_the_balance(escrow, store):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    response = place(api, ada, ada_wallet, bob_wallet, "30.00", details="order 7", expires_in_s=60)
    assert response.status_code == 201
    hold = response.json
    assert (hold["amount"], hold["captured"], hold["remaining"], hold["status"], hold["details"]) == (
        "30.00", "0.00", "30.00", "pending", "order 7")
    assert hold["id"].startswith("hold_") and hold["expires_at"] > hold["created_at"]
    assert wallet(api, ada, ada_wallet) == ("100.00", "30.00", "70.00")
    assert wallet(api, bob, bob_wallet) == ("0.00", "0.00", "0.00")
    assert [e["type"] for e in store.collections["events"].find({"type": {"$regex": "^hold"}})] == [
        "hold.created"]
    check_ledger(store)


def test_default_expiry_is_seven_days(escrow):
    api, ada, ada_wallet, _, bob_wallet = escrow
    hold = ledger.get_hold(api.client.application.extensions["store"].tenant("default"),
                           place(api, ada, ada_wallet, bob_wallet, "1.00").json["id"])
    assert hold["expires_at"] - hold["created_at"] == timedelta(days=7)


@pytest.mark.parametrize("body, code", [
    ({"amount": "100.01"}, (422, "insufficient_funds")),
    ({"to_wallet_id": "wal_nope"}, (422, "wallet_not_found")),
    ({"to_wallet_id": "self"}, (422, "accounts_must_be_different")),
    ({"from_wallet_id": "other", "to_wallet_id": "self"}, (404, "wallet_not_found")),
    ({"expires_in_s": 0}, (400, "validation_failed")),
    ({"expires_in_s": 2_592_001}, (400, "validation_failed")),
    ({"amount": 5}, (400, "validation_failed")),
])
def test_refused_holds_change_nothing(escrow, store, body, code):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    fields = {"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet, "amount": "10.00"}
    fields.update(body)
    fields = {k: {"self": ada_wallet, "other": bob_wallet}.get(v, v) for k, v in fields.items()}
    response = api.client.post("/holds", json=fields, headers=ada)
    assert (response.status_code, response.json["code"]) == code
    assert wallet(api, ada, ada_wallet) == ("100.00", "0.00", "100.00")
    assert store.collections["holds"].count_documents({}) == 0


def test_partial_captures_then_nothing_remains(escrow, store):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    hold = place(api, ada, ada_wallet, bob_wallet, "30.00").json
    url = f"/holds/{hold['id']}/capture"
    first = api.client.post(url, json={"amount": "10.00"}, headers=bob)
    assert first.status_code == 200
    assert (first.json["captured"], first.json["remaining"], first.json["status"]) == (
        "10.00", "20.00", "pending")
    assert wallet(api, ada, ada_wallet) == ("90.00", "20.00", "70.00")
    assert wallet(api, bob, bob_wallet) == ("10.00", "0.00", "10.00")
    too_much = api.client.post(url, json={"amount": "20.01"}, headers=api.operator)
    assert (too_much.status_code, too_much.json["code"]) == (422, "exceeds_hold_amount")
    rest = api.client.post(url, json={}, headers=api.operator)  # no amount: all that remains
    assert (rest.json["captured"], rest.json["remaining"], rest.json["status"]) == (
        "30.00", "0.00", "captured")
    assert wallet(api, ada, ada_wallet) == ("70.00", "0.00", "70.00")
    again = api.client.post(url, json={"amount": "1.00"}, headers=bob)
    assert (again.status_code, again.json["code"]) == (409, "hold_not_pending")
    # Each capture is a posted transfer, in both journals, carrying the hold's id.
    captures = list(store.collections["transfers"].find({"links.hold_id": hold["id"]}))
    assert sorted(t["amount_cents"] for t in captures) == [1000, 2000]
    assert {t["type"] for t in captures} == {"transfer"}
    legs = list(store.collections["operations"].find({"links.hold_id": hold["id"]}))
    assert sorted((leg["type"], leg["amount_cents"]) for leg in legs) == [
        ("transfer_in", 1000), ("transfer_in", 2000), ("transfer_out", -2000), ("transfer_out", -1000)]
    shown = api.client.get(f"/transfers/{captures[0]['_id']}", headers=ada).json
    assert shown["from_wallet_id"] == ada_wallet and shown["status"] == "posted"
    assert check_ledger(store) == 10000


def test_a_final_capture_releases_what_remains(escrow, store):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    hold = place(api, ada, ada_wallet, bob_wallet, "30.00").json
    done = api.client.post(f"/holds/{hold['id']}/capture", json={"amount": "12.50", "final": True},
                           headers=bob).json
    assert (done["captured"], done["remaining"], done["status"]) == ("12.50", "0.00", "captured")
    assert wallet(api, ada, ada_wallet) == ("87.50", "0.00", "87.50")
    check_ledger(store)


def test_void_returns_the_money_and_only_the_receiver_or_operator_may(escrow, store, api):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    _, eve, _ = api.member()
    hold = place(api, ada, ada_wallet, bob_wallet, "40.00").json
    url = f"/holds/{hold['id']}"
    assert api.client.post(url + "/void", headers=ada).json["code"] == "forbidden"
    assert api.client.post(url + "/capture", json={}, headers=ada).json["code"] == "forbidden"
    for call in (lambda: api.client.post(url + "/void", headers=eve),
                 lambda: api.client.get(url, headers=eve)):
        assert (call().status_code, call().json["code"]) == (404, "hold_not_found")
    voided = api.client.post(url + "/void", headers=bob)
    assert (voided.status_code, voided.json["status"], voided.json["remaining"]) == (200, "voided", "0.00")
    assert wallet(api, ada, ada_wallet) == ("100.00", "0.00", "100.00")
    for call in (api.client.post(url + "/void", headers=api.operator),
                 api.client.post(url + "/capture", json={}, headers=bob)):
        assert (call.status_code, call.json["code"]) == (409, "hold_not_pending")
    assert [e["type"] for e in store.collections["events"].find({"type": {"$regex": "^hold"}})] == [
        "hold.created", "hold.voided"]
    check_ledger(store)


def test_a_transfer_is_refused_while_money_is_held_and_accepted_after_void(escrow, store):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    hold = place(api, ada, ada_wallet, bob_wallet, "80.00").json
    refused = api.transfer(ada, ada_wallet, bob_wallet, "30.00")
    assert (refused.status_code, refused.json["code"]) == (422, "insufficient_funds")
    assert api.client.post(f"/holds/{hold['id']}/void", headers=bob).status_code == 200
    assert api.transfer(ada, ada_wallet, bob_wallet, "30.00").status_code == 201
    assert wallet(api, ada, ada_wallet) == ("70.00", "0.00", "70.00")
    check_ledger(store)


def test_capture_replays_its_first_answer(escrow, store):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    hold = place(api, ada, ada_wallet, bob_wallet, "30.00").json
    url, key = f"/holds/{hold['id']}/capture", dict(bob, **{"Idempotency-Key": "cap-7"})
    first = api.client.post(url, json={"amount": "10.00"}, headers=key)
    second = api.client.post(url, json={"amount": "10.00"}, headers=key)
    assert second.headers["Idempotent-Replayed"] == "true" and second.json == first.json
    assert wallet(api, bob, bob_wallet)[0] == "10.00"
    # A refusal is replayed too, even once the hold has changed.
    big = dict(bob, **{"Idempotency-Key": "cap-8"})
    assert api.client.post(url, json={"amount": "25.00"}, headers=big).json["code"] == "exceeds_hold_amount"
    assert api.client.post(url, json={"amount": "20.00"}, headers=bob).status_code == 200
    replayed = api.client.post(url, json={"amount": "25.00"}, headers=big)
    assert replayed.json["code"] == "exceeds_hold_amount"
    assert replayed.headers["Idempotent-Replayed"] == "true"
    check_ledger(store)


def hammer(calls):
    """Run the calls from real threads, all released at once; their results in order."""
    start, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index, call):
        start.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_captures_never_exceed_the_hold(app, escrow, store):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    hold = place(api, ada, ada_wallet, bob_wallet, "50.00").json
    url = f"/holds/{hold['id']}/capture"
    clients = [app.test_client() for _ in range(8)]
    results = hammer([lambda c=c: c.post(url, json={"amount": "15.00"}, headers=bob) for c in clients])
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 3 + [422] * 5
    final = api.client.get(f"/holds/{hold['id']}", headers=bob).json
    assert (final["captured"], final["remaining"]) == ("45.00", "5.00")
    assert wallet(api, ada, ada_wallet) == ("55.00", "5.00", "50.00")
    check_ledger(store)


def test_capture_racing_void_has_one_winner(app, escrow, store):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    for _ in range(5):
        hold = place(api, ada, ada_wallet, bob_wallet, "10.00").json
        url = f"/holds/{hold['id']}"
        capture, void = hammer([lambda: app.test_client().post(url + "/capture", json={}, headers=bob),
                                lambda: app.test_client().post(url + "/void", headers=api.operator)])
        assert sorted((capture.status_code, void.status_code)) == [200, 409]
        status = api.client.get(url, headers=bob).json["status"]
        assert status == ("captured" if capture.status_code == 200 else "voided")
    balance, held, available = wallet(api, ada, ada_wallet)
    assert held == "0.00" and balance == available
    check_ledger(store)


def test_an_expired_hold_frees_its_money_with_no_sweeper(escrow, store):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    hold = place(api, ada, ada_wallet, bob_wallet, "90.00", expires_in_s=1).json
    assert wallet(api, ada, ada_wallet) == ("100.00", "90.00", "10.00")
    time.sleep(1.2)
    url = f"/holds/{hold['id']}"
    shown = api.client.get(url, headers=ada).json
    assert (shown["status"], shown["remaining"]) == ("expired", "0.00")
    assert wallet(api, ada, ada_wallet) == ("100.00", "0.00", "100.00")
    for call in (api.client.post(url + "/capture", json={}, headers=bob),
                 api.client.post(url + "/void", headers=bob)):
        assert (call.status_code, call.json["code"]) == (409, "hold_not_pending")
    assert store.collections["holds"].find_one({"_id": hold["id"]})["status"] == "pending"
    # The debit writes the expiry down in its own unit, then spends the money.
    assert api.transfer(ada, ada_wallet, bob_wallet, "95.00").status_code == 201
    stored = store.collections["holds"].find_one({"_id": hold["id"]})
    assert (stored["status"], stored["remaining_cents"], stored["released_cents"]) == ("expired", 0, 9000)
    assert store.collections["events"].count_documents({"type": "hold.expired"}) == 1
    check_ledger(store)


def test_listing_filters_by_status_as_holds_read_now(escrow, monkeypatch):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    ids = []
    for n in range(4):
        ids.append(place(api, ada, ada_wallet, bob_wallet, "1.00", expires_in_s=60 * (n + 1)).json["id"])
        time.sleep(0.002)  # one millisecond apart at least: newest first is then creation order
    api.client.post(f"/holds/{ids[0]}/void", headers=bob)
    page = api.client.get(f"/wallets/{bob_wallet}/holds?limit=2", headers=bob).json
    assert [h["id"] for h in page["data"]] == ids[:1:-1] and page["has_more"]
    rest = api.client.get(f"/wallets/{bob_wallet}/holds?after={page['next_cursor']}", headers=bob).json
    assert [h["id"] for h in rest["data"]] == ids[1::-1] and not rest["has_more"]
    later = units.now() + timedelta(seconds=150)  # the second hold is past its expiry
    monkeypatch.setattr(units, "now", lambda: later)

    def listed(status):
        body = api.client.get(f"/wallets/{ada_wallet}/holds?status={status}", headers=ada).json
        return sorted(h["id"] for h in body["data"])

    assert listed("voided") == [ids[0]]
    assert listed("expired") == [ids[1]]
    assert listed("pending") == sorted(ids[2:])


def test_the_sweeper_writes_expiries_down(app, escrow, store, monkeypatch):
    api, ada, ada_wallet, bob, bob_wallet = escrow
    holds = [place(api, ada, ada_wallet, bob_wallet, "5.00", expires_in_s=s).json["id"] for s in (10, 20, 99)]
    before = store.collections["wallets"].find_one({"_id": ada_wallet})
    assert before["held_cents"] == 1500
    later = units.now() + timedelta(seconds=30)
    assert sweeper.sweep(store, moment=later) == {"holds_expired": 2, "payment_requests_expired": 0}
    assert sweeper.sweep(store, moment=later) == {"holds_expired": 0, "payment_requests_expired": 0}
    stored = {h["_id"]: h["status"] for h in store.collections["holds"].find()}
    assert [stored[h] for h in holds] == ["expired", "expired", "pending"]
    assert store.collections["wallets"].find_one({"_id": ada_wallet})["held_cents"] == 500
    monkeypatch.setattr(units, "now", lambda: later)
    result = app.test_cli_runner().invoke(args=["ledger", "sweep", "--once"])
    assert result.exit_code == 0 and '"holds_expired": 0' in result.output
    check_ledger(store)


def test_the_sweeper_thread_runs_in_the_server_process_when_configured():
    from tests.conftest import make_app
    app = make_app(SWEEPER_THREAD=True, SWEEP_INTERVAL_S=0.05)
    thread, stop = app.extensions["sweeper"]
    store = app.extensions["store"].tenant("default")
    (client_a, a), (_, b) = [(r["client"]["_id"], r["wallet"]["_id"]) for r, _ in (
        ledger.create_client(store, f"{n}@example.com", n, "hash") for n in ("a", "b"))]
    ledger.deposit(store, a, 1000)
    hold, _ = ledger.create_hold(store, client_a, a, b, 400, expires_in_s=1)
    deadline = time.monotonic() + 3
    while store.collections["holds"].find_one({"_id": hold["_id"]})["status"] == "pending":
        assert time.monotonic() < deadline, "the sweeper thread never wrote the expiry down"
        time.sleep(0.05)
    assert thread.is_alive()
    stop.set()
    thread.join(1)
    check_ledger(store)
