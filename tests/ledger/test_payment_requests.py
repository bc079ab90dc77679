"""Payment requests: ask, approve (one transfer), decline, cancel, expire; the per-pair limit; races."""
import threading
from datetime import datetime, timedelta

import pytest

from app.ledger import payment_requests, units
from tests.conftest import Api, check_ledger, make_app, run_at_once

NOBODY = "pr_000000000000000000000000"


@pytest.fixture
def pair(api):
    """Ada pays (she has $100.00); Bob asks."""
    _, ada, ada_wallet = api.member(balance="100.00")
    _, bob, bob_wallet = api.member()
    return ada, ada_wallet, bob, bob_wallet


def ask(api, pair, amount="12.34", key=None, **fields):
    ada, ada_wallet, bob, bob_wallet = pair
    body = dict({"to_wallet_id": bob_wallet, "from_wallet_id": ada_wallet, "amount": amount}, **fields)
    headers = dict(bob, **{"Idempotency-Key": key}) if key else bob
    return api.client.post("/payment-requests", json=body, headers=headers)


def act(api, action, request_id, headers, key=None):
    headers = dict(headers, **{"Idempotency-Key": key}) if key else headers
    return api.client.post(f"/payment-requests/{request_id}/{action}", headers=headers)


def event_types(store):
    return [event["type"] for event in store.collections["events"].find({}, {"type": 1})]


def later(monkeypatch, seconds):
    """The ledger's clock moved ``seconds`` ahead."""
    moment = units.now() + timedelta(seconds=seconds)
    monkeypatch.setattr(units, "now", lambda: moment)
    return moment


def test_a_request_reserves_nothing_and_waits(api, store, pair):
    ada, ada_wallet, _, bob_wallet = pair
    response = ask(api, pair, details="dinner")
    assert response.status_code == 201
    body = response.json
    assert set(body) == {"id", "from_wallet_id", "to_wallet_id", "amount", "details", "status",
                         "created_at", "expires_at", "transfer_id", "metadata"}
    assert (body["from_wallet_id"], body["to_wallet_id"], body["amount"], body["details"],
            body["status"], body["transfer_id"]) == (
        ada_wallet, bob_wallet, "12.34", "dinner", "pending", None)
    created, expires = (datetime.strptime(body[name], "%Y-%m-%dT%H:%M:%S.%fZ")
                        for name in ("created_at", "expires_at"))
    assert expires - created == timedelta(seconds=604_800)
    wallet = api.client.get(f"/wallets/{ada_wallet}", headers=ada).json
    assert (wallet["balance"], wallet["held"], wallet["available"]) == ("100.00", "0.00", "100.00")
    assert event_types(store)[-1] == "payment_request.created"


def test_approval_is_the_transfer_and_the_request_is_paid(api, store, pair):
    ada, ada_wallet, bob, bob_wallet = pair
    request_id = ask(api, pair).json["id"]
    response = act(api, "approve", request_id, ada)
    assert response.status_code == 201
    transfer = response.json
    assert (transfer["type"], transfer["from_wallet_id"], transfer["to_wallet_id"], transfer["amount"],
            transfer["status"]) == ("transfer", ada_wallet, bob_wallet, "12.34", "posted")
    assert api.client.get(f"/transfers/{transfer['id']}", headers=bob).json == transfer
    paid = api.client.get(f"/payment-requests/{request_id}", headers=bob).json
    assert (paid["status"], paid["transfer_id"]) == ("paid", transfer["id"])
    assert (api.balance(ada, ada_wallet), api.balance(bob, bob_wallet)) == ("87.66", "12.34")
    assert event_types(store)[-2:] == ["transfer.posted", "payment_request.paid"]
    check_ledger(store)


def test_short_of_money_the_request_stays_pending_and_a_retry_never_flips(api, pair):
    ada, ada_wallet, bob, _ = pair
    request_id = ask(api, pair, amount="150.00").json["id"]
    refused = act(api, "approve", request_id, ada, key="pay-1")
    assert (refused.status_code, refused.json["code"]) == (422, "insufficient_funds")
    assert api.client.get(f"/payment-requests/{request_id}", headers=ada).json["status"] == "pending"
    api.deposit(ada_wallet, "100.00")
    again = act(api, "approve", request_id, ada, key="pay-1")
    assert (again.status_code, again.json["code"]) == (422, "insufficient_funds")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert act(api, "approve", request_id, ada, key="pay-2").status_code == 201
    assert api.balance(ada, ada_wallet) == "50.00"


def test_a_replayed_approval_pays_once(api, pair):
    ada, ada_wallet, _, _ = pair
    request_id = ask(api, pair).json["id"]
    first = act(api, "approve", request_id, ada, key="pay-1")
    second = act(api, "approve", request_id, ada, key="pay-1")
    assert (second.status_code, second.json) == (201, first.json)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert api.balance(ada, ada_wallet) == "87.66"


@pytest.mark.parametrize("action, who, status", [("decline", 0, "declined"), ("cancel", 2, "canceled")])
def test_decline_and_cancel_close_it_and_nothing_more_can_happen(api, store, pair, action, who, status):
    ada, ada_wallet, bob, _ = pair
    request_id = ask(api, pair).json["id"]
    response = act(api, action, request_id, pair[who])
    assert (response.status_code, response.json["status"]) == (200, status)
    assert event_types(store)[-1] == f"payment_request.{status}"
    for again, headers in (("approve", ada), ("decline", ada), ("cancel", bob)):
        refused = act(api, again, request_id, headers)
        assert (refused.status_code, refused.json["code"]) == (409, "payment_request_not_pending")
    assert api.balance(ada, ada_wallet) == "100.00"


def test_each_answer_belongs_to_one_party(api, pair):
    ada, _, bob, _ = pair
    _, stranger, _ = api.member()
    request_id = ask(api, pair).json["id"]
    for action, wrong in (("approve", bob), ("decline", bob), ("cancel", ada)):
        refused = act(api, action, request_id, wrong)
        assert (refused.status_code, refused.json["code"]) == (403, "forbidden")
        assert act(api, action, request_id, stranger).json["code"] == "payment_request_not_found"
        assert act(api, action, NOBODY, ada).status_code == 404
    assert act(api, "approve", request_id, api.operator).status_code == 403
    for who, status in ((ada, 200), (bob, 200), (api.operator, 200), (stranger, 404)):
        assert api.client.get(f"/payment-requests/{request_id}", headers=who).status_code == status


def test_what_a_request_cannot_ask(api, pair):
    ada, ada_wallet, bob, bob_wallet = pair
    cases = [({"to_wallet_id": ada_wallet, "from_wallet_id": bob_wallet}, 404, "wallet_not_found"),
             ({"from_wallet_id": "wal_nobody"}, 422, "wallet_not_found"),
             ({"from_wallet_id": bob_wallet}, 422, "accounts_must_be_different"),
             ({"expires_in_s": 0}, 400, "validation_failed"),
             ({"expires_in_s": 2_592_001}, 400, "validation_failed"),
             ({"amount": "0"}, 400, "validation_failed")]
    for fields, status, code in cases:
        response = ask(api, pair, **fields)
        assert (response.status_code, response.json["code"]) == (status, code), fields
    assert ask(api, pair, expires_in_s=2_592_000).status_code == 201


def test_an_unknown_payer_is_named_as_the_payer_and_so_is_its_replay(api, pair):
    """Issue 29, finding 6: the title said "The receiving wallet does not exist"."""
    first = ask(api, pair, key="ask-nobody", from_wallet_id="wal_nobody")
    replay = ask(api, pair, key="ask-nobody", from_wallet_id="wal_nobody")
    for response in (first, replay):
        assert (response.status_code, response.json["code"]) == (422, "wallet_not_found")
        assert response.json["title"] == "The paying wallet does not exist"
        assert "wal_nobody" in response.json["detail"]
    assert replay.headers.get("Idempotent-Replayed") == "true"
    _, _, bob, bob_wallet = pair
    refused = api.client.post("/holds", headers=bob, json={
        "from_wallet_id": bob_wallet, "to_wallet_id": "wal_nobody", "amount": "1.00"})
    assert refused.json["title"] == "The receiving wallet does not exist"


def test_a_lapsed_request_reads_expired_and_the_sweeper_writes_it_down(api, store, pair, monkeypatch):
    ada, _, bob, _ = pair
    request_id = ask(api, pair, expires_in_s=60).json["id"]
    live = ask(api, pair, expires_in_s=3600).json["id"]
    moment = later(monkeypatch, 61)
    assert api.client.get(f"/payment-requests/{request_id}", headers=ada).json["status"] == "expired"
    refused = act(api, "approve", request_id, ada)
    assert (refused.status_code, refused.json["code"]) == (409, "payment_request_not_pending")
    listed = api.client.get("/payment-requests?status=expired", headers=bob).json["data"]
    assert [r["id"] for r in listed] == [request_id]
    pending = api.client.get("/payment-requests?status=pending", headers=bob).json["data"]
    assert [r["id"] for r in pending] == [live]
    assert payment_requests.sweep_expired_requests(store, moment) == 1
    assert store.collections["payment_requests"].find_one({"_id": request_id})["status"] == "expired"
    assert event_types(store)[-1] == "payment_request.expired"
    assert payment_requests.sweep_expired_requests(store, moment) == 0
    assert act(api, "approve", live, ada).status_code == 201


def limited(limit):
    app = make_app(MAX_PENDING_REQUESTS_PER_PAYER=limit)
    api = Api(app.test_client())
    _, ada, ada_wallet = api.member(balance="100.00")
    _, bob, bob_wallet = api.member()
    return app, api, (ada, ada_wallet, bob, bob_wallet)


def test_one_payee_cannot_flood_one_payer(monkeypatch):
    _, api, pair = limited(3)
    ada, ada_wallet, bob, bob_wallet = pair
    ids = [ask(api, pair, expires_in_s=60 + n).json["id"] for n in range(3)]
    refused = ask(api, pair)
    assert (refused.status_code, refused.json["code"]) == (422, "service_limit_reached")
    _, carol, carol_wallet = api.member()
    other = {"to_wallet_id": carol_wallet, "from_wallet_id": ada_wallet, "amount": "1.00"}
    assert api.client.post("/payment-requests", json=other, headers=carol).status_code == 201
    assert act(api, "decline", ids[0], ada).status_code == 200  # a slot is free again
    assert ask(api, pair).status_code == 201
    assert ask(api, pair).status_code == 422
    later(monkeypatch, 61)  # ids[1] lapsed: it no longer counts, swept or not
    assert ask(api, pair).status_code == 201


def test_concurrent_requests_never_pass_the_limit():
    app, api, pair = limited(3)
    statuses = run_at_once(10, lambda i: ask(Api(app.test_client()), pair).status_code)
    assert sorted(statuses) == [201] * 3 + [422] * 7
    (counter,) = app.extensions["store"].tenant("default").collections["payment_request_pairs"].find()
    assert counter["pending"] == 3


def test_ten_concurrent_approvals_make_one_transfer(app, api, store, pair):
    ada, ada_wallet, _, _ = pair
    request_id = ask(api, pair, amount="10.00").json["id"]
    responses = run_at_once(
        10, lambda i: act(Api(app.test_client()), "approve", request_id, ada, key=f"k{i}"))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    assert {r.json["code"] for r in responses if r.status_code == 409} == {"payment_request_not_pending"}
    assert api.balance(ada, ada_wallet) == "90.00"
    assert store.collections["transfers"].count_documents({"type": "transfer"}) == 1
    check_ledger(store)


def test_approve_racing_decline_and_cancel_gives_one_outcome(app, api, store, pair):
    ada, ada_wallet, bob, _ = pair
    for _ in range(5):
        request_id = ask(api, pair, amount="1.00").json["id"]
        calls = [("approve", ada), ("decline", ada), ("cancel", bob)]
        responses = run_at_once(
            3, lambda i: act(Api(app.test_client()), calls[i][0], request_id, calls[i][1]))
        winners = [calls[i][0] for i, r in enumerate(responses) if r.status_code in (200, 201)]
        assert len(winners) == 1 and sorted(r.status_code for r in responses).count(409) == 2
        final = api.client.get(f"/payment-requests/{request_id}", headers=ada).json
        assert final["status"] == {"approve": "paid", "decline": "declined", "cancel": "canceled"}[winners[0]]
    paid = store.collections["payment_requests"].count_documents({"status": "paid"})
    assert api.balance(ada, ada_wallet) == f"{100 - paid}.00"
    assert store.collections["payment_request_pairs"].find_one()["pending"] == 0
    check_ledger(store)


def test_the_list_is_the_callers_own_newest_first_in_pages(api, pair):
    ada, _, bob, _ = pair
    _, stranger, _ = api.member()
    made = [ask(api, pair, amount=f"{n}.00").json["id"] for n in range(1, 6)]
    act(api, "decline", made[0], ada)
    seen, after = [], None
    while True:
        page = api.client.get("/payment-requests?role=payer&limit=2" + (f"&after={after}" if after else ""),
                              headers=ada).json
        seen += [(r["created_at"], r["id"]) for r in page["data"]]
        if not page["has_more"]:
            break
        after = page["next_cursor"]
    # Newest first; within one millisecond, by id: each request exactly once across the pages.
    assert seen == sorted(seen, reverse=True) and sorted(i for _, i in seen) == sorted(made)
    assert api.client.get("/payment-requests?role=payer", headers=bob).json["data"] == []
    assert len(api.client.get("/payment-requests?role=payee", headers=bob).json["data"]) == 5
    declined = api.client.get("/payment-requests?status=declined", headers=bob).json["data"]
    assert [r["id"] for r in declined] == [made[0]]
    assert api.client.get("/payment-requests", headers=stranger).json["data"] == []
    for query in ("role=boss", "status=lost", "limit=0", "after=bm9wZQ"):
        assert api.client.get(f"/payment-requests?{query}", headers=ada).status_code == 400, query


def test_the_sweeper_thread_writes_lapsed_requests_down(api, store, pair, monkeypatch):
    from app.ledger import sweeper
    request_id = ask(api, pair, expires_in_s=1).json["id"]
    later(monkeypatch, 2)
    _, stop = sweeper.start_thread(store, 0.02)
    try:
        for _ in range(200):
            if store.collections["payment_requests"].find_one({"_id": request_id})["status"] == "expired":
                break
            threading.Event().wait(0.01)
    finally:
        stop.set()
    assert store.collections["payment_requests"].find_one({"_id": request_id})["status"] == "expired"
    assert sweeper.sweep(store)["payment_requests_expired"] == 0


def test_ledger_sweep_once_runs_the_payment_requests_step(app, api, pair, monkeypatch):
    ask(api, pair, expires_in_s=1)
    later(monkeypatch, 2)
    result = app.test_cli_runner().invoke(args=["ledger", "sweep", "--once"])
    assert result.exit_code == 0 and '"payment_requests_expired": 1' in result.output
