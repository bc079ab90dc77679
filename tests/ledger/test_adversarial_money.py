"""Review: adversarial checks of the money core (holds, transfers, idempotency, ownership)."""
import random
import threading
import time
from datetime import timedelta

import pytest

from app import audit
from app.ledger import sweeper, units
from tests.conftest import check_ledger
from tests.ledger.test_holds import hammer, place, wallet


@pytest.fixture
def trio(api):
    """Ada (100.00) pays Bob; Eve is a stranger with money of her own."""
    _, ada, ada_wallet = api.member(balance="100.00")
    _, bob, bob_wallet = api.member()
    _, eve, eve_wallet = api.member(balance="5.00")
    return api, (ada, ada_wallet), (bob, bob_wallet), (eve, eve_wallet)


def assert_books(store):
    report = audit.verify(store)
    assert report.ok, report.violations


# --- who may read or move money --------------------------------------------------------

def test_a_stranger_gets_404_on_every_read_of_a_wallet_and_a_hold(trio):
    api, (ada, ada_wallet), (bob, bob_wallet), (eve, eve_wallet) = trio
    hold = place(api, ada, ada_wallet, bob_wallet, "10.00").json
    moved = api.transfer(ada, ada_wallet, bob_wallet, "1.00").json
    for url in (f"/wallets/{ada_wallet}", f"/wallets/{ada_wallet}/operations",
                f"/wallets/{ada_wallet}/holds", f"/wallets/{ada_wallet}/report",
                f"/holds/{hold['id']}", f"/transfers/{moved['id']}",
                "/wallets/wal_nope", "/holds/hold_nope", "/transfers/tr_nope"):
        response = api.client.get(url, headers=eve)
        assert response.status_code == 404, (url, response.status_code)
    for url in (f"/holds/{hold['id']}/capture", f"/holds/{hold['id']}/void"):
        response = api.client.post(url, json={}, headers=eve)
        assert (response.status_code, response.json["code"]) == (404, "hold_not_found"), url
    assert api.client.post(f"/holds/{hold['id']}/capture", json={}, headers=ada).status_code == 403
    assert api.client.post(f"/holds/{hold['id']}/void", headers=ada).status_code == 403
    # Nor can a stranger move another's money by naming it as from-wallet.
    for refused in (api.transfer(eve, ada_wallet, eve_wallet, "1.00"),
                    place(api, eve, ada_wallet, eve_wallet, "1.00")):
        assert (refused.status_code, refused.json["code"]) == (404, "wallet_not_found")
    assert api.client.post(f"/wallets/{eve_wallet}/deposits", json={"amount": "1.00"},
                           headers=eve).status_code == 403
    assert wallet(api, ada, ada_wallet) == ("99.00", "10.00", "89.00")
    assert_books(api.client.application.extensions["store"].tenant("default"))


# --- holds: boundaries and races --------------------------------------------------------

def test_a_capture_at_the_instant_of_expiry_is_refused_and_the_money_is_available(
        trio, store, monkeypatch):
    api, (ada, ada_wallet), (bob, bob_wallet), _ = trio
    hold = place(api, ada, ada_wallet, bob_wallet, "60.00", expires_in_s=60).json
    due = store.collections["holds"].find_one({"_id": hold["id"]})["expires_at"]
    monkeypatch.setattr(units, "now", lambda: due)
    capture = api.client.post(f"/holds/{hold['id']}/capture", json={}, headers=bob)
    assert (capture.status_code, capture.json["code"]) == (409, "hold_not_pending")
    assert wallet(api, ada, ada_wallet) == ("100.00", "0.00", "100.00")
    assert api.transfer(ada, ada_wallet, bob_wallet, "100.00").status_code == 201
    assert_books(store)


def test_a_partial_capture_then_expiry_releases_only_what_remains(trio, store):
    api, (ada, ada_wallet), (bob, bob_wallet), _ = trio
    hold = place(api, ada, ada_wallet, bob_wallet, "40.00", expires_in_s=60).json
    assert api.client.post(f"/holds/{hold['id']}/capture", json={"amount": "15.00"},
                           headers=bob).status_code == 200
    later = units.now() + timedelta(seconds=61)
    assert sweeper.sweep(store, moment=later)["holds_expired"] == 1
    stored = store.collections["holds"].find_one({"_id": hold["id"]})
    assert (stored["captured_cents"], stored["released_cents"], stored["remaining_cents"]) == (
        1500, 2500, 0)
    assert wallet(api, ada, ada_wallet) == ("85.00", "0.00", "85.00")
    assert wallet(api, bob, bob_wallet) == ("15.00", "0.00", "15.00")
    assert_books(store)


def test_capture_void_and_sweeper_race_on_holds_at_their_expiry(app, trio, store):
    """Holds of 1 s, captured and voided while a sweeper thread writes expiries down."""
    api, (ada, ada_wallet), (bob, bob_wallet), _ = trio
    holds = [place(api, ada, ada_wallet, bob_wallet, "3.00", expires_in_s=1).json["id"]
             for _ in range(20)]
    stop = threading.Event()
    thread = threading.Thread(target=sweeper.run, args=(store, 0.001, stop), daemon=True)
    time.sleep(0.95)
    thread.start()
    try:
        calls = []
        for hold_id in holds:
            calls.append(lambda h=hold_id: app.test_client().post(
                f"/holds/{h}/capture", json={"amount": "1.00"}, headers=bob))
            calls.append(lambda h=hold_id: app.test_client().post(f"/holds/{h}/void", headers=bob))
        results = hammer(calls)
    finally:
        stop.set()
        thread.join(2)
    assert all(r.status_code in (200, 409) for r in results), [r.json for r in results]
    time.sleep(0.1)
    sweeper.sweep(store)
    docs = list(store.collections["holds"].find({"_id": {"$in": holds}}))
    assert all(d["captured_cents"] + d["released_cents"] + d["remaining_cents"] == d["amount_cents"]
               for d in docs)
    assert all(d["status"] != "pending" for d in docs)
    captured = sum(d["captured_cents"] for d in docs)
    assert wallet(api, bob, bob_wallet)[0] == f"{captured // 100}.{captured % 100:02d}"
    check_ledger(store)


def test_random_money_from_many_threads_keeps_the_books_whole(app, api, store):
    """Transfers, holds, captures and voids among four wallets from 8 threads at once."""
    members = [api.member(balance="50.00") for _ in range(4)]
    holds, lock = [], threading.Lock()

    def worker(seed):
        rng, client = random.Random(seed), app.test_client()
        for _ in range(25):
            (_, payer, payer_wallet), (_, payee, payee_wallet) = rng.sample(members, 2)
            amount = f"{rng.randint(1, 3000) / 100:.2f}"
            action = rng.random()
            if action < 0.4:
                client.post("/transfers", json={"from_wallet_id": payer_wallet,
                            "to_wallet_id": payee_wallet, "amount": amount}, headers=payer)
            elif action < 0.7:
                made = client.post("/holds", json={"from_wallet_id": payer_wallet,
                                   "to_wallet_id": payee_wallet, "amount": amount}, headers=payer)
                if made.status_code == 201:
                    with lock:
                        holds.append((made.json["id"], payee))
            elif holds:
                with lock:
                    hold_id, payee_headers = rng.choice(holds)
                verb = rng.choice(["capture", "void"])
                body = {"amount": "0.50"} if verb == "capture" and rng.random() < 0.5 else {}
                response = client.post(f"/holds/{hold_id}/{verb}", json=body, headers=payee_headers)
                assert response.status_code in (200, 409, 422), response.json

    hammer([lambda s=s: worker(s) for s in range(8)])
    assert check_ledger(store) == 20000
    for _, headers, wallet_id in members:
        balance, held, available = wallet(api, headers, wallet_id)
        assert float(available) >= 0 and float(held) >= 0


# --- idempotency: a retry never flips the outcome --------------------------------------

def test_a_refused_hold_stays_refused_after_a_deposit(trio, store):
    api, (ada, ada_wallet), (bob, bob_wallet), _ = trio
    key = {"Idempotency-Key": "hold-1"}
    first = place(api, ada, ada_wallet, bob_wallet, "150.00", **key)
    assert (first.status_code, first.json["code"]) == (422, "insufficient_funds")
    api.deposit(ada_wallet, "100.00")
    again = place(api, ada, ada_wallet, bob_wallet, "150.00", **key)
    assert (again.status_code, again.json["code"]) == (422, "insufficient_funds")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert store.collections["holds"].count_documents({}) == 0
    assert_books(store)


def test_a_void_replayed_after_the_hold_changed_answers_as_first(trio, store):
    api, (ada, ada_wallet), (bob, bob_wallet), _ = trio
    hold = place(api, ada, ada_wallet, bob_wallet, "10.00").json
    url, key = f"/holds/{hold['id']}", dict(bob, **{"Idempotency-Key": "v-1"})
    first = api.client.post(url + "/void", headers=key)
    assert first.status_code == 200 and first.json["status"] == "voided"
    again = api.client.post(url + "/void", headers=key)
    assert again.status_code == 200 and again.json == first.json
    other = api.client.post(url + "/capture", json={}, headers=dict(bob, **{"Idempotency-Key": "v-1"}))
    assert (other.status_code, other.json["code"]) == (422, "idempotency_key_reused")
    assert wallet(api, ada, ada_wallet) == ("100.00", "0.00", "100.00")
    assert_books(store)


def test_the_same_key_from_many_threads_moves_money_once(app, trio, store):
    api, (ada, ada_wallet), (bob, bob_wallet), _ = trio
    body = {"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet, "amount": "30.00"}
    headers = dict(ada, **{"Idempotency-Key": "same"})
    results = hammer([lambda: app.test_client().post("/transfers", json=body, headers=headers)
                      for _ in range(8)])
    assert {r.status_code for r in results} == {201}
    assert len({r.json["id"] for r in results}) == 1
    assert wallet(api, ada, ada_wallet)[0] == "70.00"
    assert_books(store)


def test_ledger_refuses_zero_negative_and_huge_amounts_before_any_write(trio, store):
    api, (ada, ada_wallet), (bob, bob_wallet), _ = trio
    for amount in ("0", "0.00", "-1.00", "1000000000.01", "1e3", "1.001", " 1.00", "01.00"):
        for response in (api.transfer(ada, ada_wallet, bob_wallet, amount),
                         place(api, ada, ada_wallet, bob_wallet, amount),
                         api.deposit(ada_wallet, amount)):
            assert response.status_code == 400, (amount, response.json)
    hold = place(api, ada, ada_wallet, bob_wallet, "1.00").json
    for amount in ("0", "0.00", "1.01"):
        response = api.client.post(f"/holds/{hold['id']}/capture", json={"amount": amount},
                                   headers=bob)
        assert response.status_code in (400, 422), (amount, response.json)
    assert wallet(api, ada, ada_wallet) == ("100.00", "1.00", "99.00")
    assert_books(store)


def test_hold_pages_of_one_visit_every_hold_once_even_in_one_millisecond(trio, store, monkeypatch):
    api, (ada, ada_wallet), (bob, bob_wallet), _ = trio
    frozen = units.now()
    monkeypatch.setattr(units, "now", lambda: frozen)
    made = {place(api, ada, ada_wallet, bob_wallet, "1.00").json["id"] for _ in range(7)}
    seen, url = [], f"/wallets/{bob_wallet}/holds?limit=1"
    while url:
        page = api.client.get(url, headers=bob).json
        seen += [h["id"] for h in page["data"]]
        url = (f"/wallets/{bob_wallet}/holds?limit=1&after={page['next_cursor']}"
               if page["has_more"] else None)
    assert sorted(seen) == sorted(made) and len(seen) == 7


def test_money_of_a_due_hold_can_back_a_new_hold_at_once(trio, store, monkeypatch):
    api, (ada, ada_wallet), (bob, bob_wallet), _ = trio
    place(api, ada, ada_wallet, bob_wallet, "80.00", expires_in_s=5)
    assert place(api, ada, ada_wallet, bob_wallet, "30.00").json["code"] == "insufficient_funds"
    later = units.now() + timedelta(seconds=5)
    monkeypatch.setattr(units, "now", lambda: later)
    assert place(api, ada, ada_wallet, bob_wallet, "90.00").status_code == 201
    assert wallet(api, ada, ada_wallet) == ("100.00", "90.00", "10.00")
    assert_books(store)


# --- the audit: what it does not see -----------------------------------------------------

def test_the_audit_sees_a_hold_whose_parts_exceed_its_amount(trio, store):
    """A hold whose captured + released + remaining is not its amount (captured twice, say)
    is a broken book: the capture transfers and the hold no longer agree. The audit has no
    rule that reads a hold's own arithmetic or its capture transfers, so it says ok."""
    api, (ada, ada_wallet), (bob, bob_wallet), _ = trio
    hold = place(api, ada, ada_wallet, bob_wallet, "50.00").json
    assert api.client.post(f"/holds/{hold['id']}/capture", json={"amount": "20.00"},
                           headers=bob).status_code == 200
    assert_books(store)
    store.collections["holds"].update_one({"_id": hold["id"]}, {"$inc": {"captured_cents": 2000}})
    report = audit.verify(store)
    assert not report.ok, "captured 40.00 + remaining 30.00 of a 50.00 hold passed the audit"
