"""Real responses of every operation, success and refusal, against the OpenAPI document."""
import json
from datetime import datetime

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from app.events import dispatch
from app.ledger import webhooks
from tests.conftest import Api
from tests.support.contract import Document

# Documented, but no walk through the API can reach it: a valid token for a client that is gone.
UNREACHABLE = {("GET", "/clients/me", 404)}
# Reached, but by its own test: the database must stop answering.
SEEN_ELSEWHERE = {("GET", "/ready", 503)}
TOO_LARGE = b" " * (64 * 1024 + 1)  # past MAX_CONTENT_LENGTH: 413 payload_too_large
# Query parameters without which an operation is refused before it reads anything.
REQUIRED_QUERY = {"/wallets/{wallet_id}/balance": "?seq=1"}


class Walk:
    """Sends requests, checks each response against the document, and notes what it saw."""

    def __init__(self, client, document):
        self.client = client
        self.doc = Document(document)
        self.seen = set()

    def call(self, method, template, url=None, **kwargs):
        response = self.client.open(url or template, method=method, **kwargs)
        problems = self.doc.response_errors(method, template, response)
        assert not problems, (method, url or template, response.status_code, response.json, problems)
        self.seen.add((method, template, response.status_code))
        return response

    def documented(self):
        return {(method.upper(), path, int(status))
                for path, operations in self.doc.document["paths"].items()
                for method, operation in operations.items() for status in operation["responses"]}


@pytest.fixture
def walk(client):
    return Walk(client, client.get("/openapi.json").json)


def test_every_documented_response_matches_a_real_one(app, api, walk):
    operator = api.operator
    ada_body, ada, ada_wallet = api.member(balance="100.00")
    _, bob, bob_wallet = api.member()
    walk_clients(walk, operator)
    walk_wallets(walk, operator, ada, ada_wallet)
    transfer_id = walk_transfers(walk, operator, ada, ada_wallet, bob_wallet)
    walk_batches(walk, operator, ada, ada_wallet, bob_wallet)
    walk.call("GET", "/transfers/{transfer_id}", f"/transfers/{transfer_id}", headers=bob)
    walk.call("GET", "/transfers/{transfer_id}", f"/transfers/{transfer_id}", headers=operator)
    walk.call("GET", "/transfers/{transfer_id}", "/transfers/tr_nope", headers=ada)
    walk.call("GET", "/transfers/{transfer_id}", f"/transfers/{transfer_id}")
    walk_holds(walk, operator, ada, ada_wallet, bob, bob_wallet)
    walk_refunds(walk, operator, ada, bob, transfer_id, ada_wallet)
    walk_payment_requests(walk, operator, ada, ada_wallet, bob, bob_wallet)
    walk_withdrawals(walk, operator, ada, ada_wallet, bob)
    walk_service(walk, operator, ada, ada_wallet)
    walk_events(walk, app, operator, ada, bob)
    for path in ("/health", "/openapi.json", "/docs/"):
        walk.call("GET", path)
    walk_limits(walk, operator, ada, ada_wallet, bob_wallet)
    walk_metadata(walk, app, operator, ada, ada_body, ada_wallet, bob, transfer_id)
    walk_search(walk, operator, ada, ada_wallet, bob_wallet)
    walk_states(walk, api, operator, ada)
    walk_monitors(walk, operator, ada, ada_wallet, bob)
    walk_tenants(walk, operator, ada)
    walk_tenant_refusals(walk, operator, ada)
    every_503 = {seen for seen in walk.documented() if seen[2] == 503}  # by the tests below
    missed = walk.documented() - walk.seen - UNREACHABLE - SEEN_ELSEWHERE - every_503
    assert not missed, f"documented but never seen: {sorted(missed)}"
    assert not walk.seen - walk.documented()


def walk_metadata(walk, app, operator, ada, ada_body, ada_wallet, bob, transfer_id):
    """PATCH /{collection}/{id}: each answer, on a real object of each collection."""
    store = app.extensions["store"]

    def first(collection, **query):
        return store.read(lambda db: getattr(db, collection).find_one(query))["_id"]

    targets = {  # template -> (a real id, the caller who may change it, one who may only see it)
        "/transfers/{transfer_id}": (transfer_id, ada, bob),
        "/holds/{hold_id}": (first("holds", from_wallet_id=ada_wallet), ada, bob),
        "/payment-requests/{request_id}": (first("payment_requests"), None, None),
        "/withdrawals/{withdrawal_id}": (first("withdrawals", wallet_id=ada_wallet), ada, None),
        "/wallets/{wallet_id}": (ada_wallet, ada, None),
        "/clients/{client_id}": (ada_body["id"], ada, None),
    }
    body = {"metadata": {"order": "1042", "gone": None}}
    for template, (real_id, actor, watcher) in targets.items():
        url = template.split("{")[0] + real_id
        walk.call("PATCH", template, url, json=body, headers=actor or operator)  # 200
        walk.call("PATCH", template, url, json={"metadata": {"k": 5}}, headers=operator)  # 400
        walk.call("PATCH", template, url, data="{", content_type="application/json", headers=operator)
        walk.call("PATCH", template, url, data="x", content_type="text/plain", headers=operator)  # 415
        walk.call("PATCH", template, url, data=TOO_LARGE, content_type="application/json",
                  headers=operator)  # 413
        walk.call("PATCH", template, url, json=body)  # 401
        walk.call("PATCH", template, template.split("{")[0] + "x_nope", json=body, headers=operator)  # 404
        request = store.read(lambda db: db.payment_requests.find_one({"_id": real_id}))
        if request is not None:  # the payer may see a request, only its payee may change it
            watcher = ada if request["from_wallet_id"] == ada_wallet else bob
        if watcher is not None:
            walk.call("PATCH", template, url, json=body, headers=watcher)  # 403


def walk_search(walk, operator, ada, ada_wallet, bob_wallet):
    page = walk.call("GET", "/transfers", "/transfers?limit=1", headers=ada).json
    walk.call("GET", "/transfers", f"/transfers?after={page['next_cursor']}&type=transfer", headers=ada)
    walk.call("GET", "/transfers", f"/transfers?wallet_id={bob_wallet}&min_amount=0.01&metadata[order]=1042",
              headers=operator)
    walk.call("GET", "/transfers", "/transfers?min_amount=1.001", headers=ada)  # 400
    walk.call("GET", "/transfers", "/transfers?after=nope", headers=ada)  # 400 invalid_cursor
    walk.call("GET", "/transfers", f"/transfers?wallet_id={bob_wallet}", headers=ada)  # 404
    walk.call("GET", "/transfers", "/transfers")  # 401


def walk_states(walk, api, operator, ada):
    _, _, wallet = api.member()
    why = {"reason": "under review"}
    for verb, body in (("freeze", why), ("unfreeze", None), ("close", why)):
        template, url = f"/wallets/{{wallet_id}}/{verb}", f"/wallets/{wallet}/{verb}"
        walk.call("POST", template, url, json=body, headers=operator)  # 200
        walk.call("POST", template, url, json=body, headers=ada)  # 403
        walk.call("POST", template, url, json=body)  # 401
        walk.call("POST", template, f"/wallets/wal_nope/{verb}", json=body, headers=operator)  # 404
        if body is not None:
            walk.call("POST", template, url, json={"reason": ""}, headers=operator)  # 400
            walk.call("POST", template, url, data="x", content_type="text/plain", headers=operator)
            walk.call("POST", template, url, data=TOO_LARGE, content_type="application/json",
                      headers=operator)  # 413
    for verb, body in (("freeze", why), ("unfreeze", None), ("close", why)):  # 409: closed for good
        walk.call("POST", f"/wallets/{{wallet_id}}/{verb}", f"/wallets/{wallet}/{verb}", json=body,
                  headers=operator)


def walk_clients(walk, operator):
    body = {"email": "ada.contract@example.com", "name": "Ada", "password": "password123"}
    key = {"Idempotency-Key": "signup-1"}
    created = walk.call("POST", "/clients", json=body, headers=key)
    replayed = walk.call("POST", "/clients", json=body, headers=key)
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.json == created.json
    walk.call("POST", "/clients", json=dict(body, name="Eve"), headers=key)  # 422 reused
    walk.call("POST", "/clients", json=dict(body, email="ADA.contract@example.com"))  # 409
    walk.call("POST", "/clients", json={"email": "x"})  # 400 validation_failed
    walk.call("POST", "/clients", data="{", content_type="application/json")  # 400 malformed_json
    walk.call("POST", "/clients", data="{}", content_type="text/plain")  # 415
    walk.call("POST", "/clients", data=TOO_LARGE, content_type="application/json")  # 413
    walk.call("POST", "/clients", json=body, headers={"Idempotency-Key": "k" * 256})  # 400
    login = {"email": body["email"], "password": body["password"]}
    token = walk.call("POST", "/auth/token", json=login).json["access_token"]
    walk.call("POST", "/auth/token", json=dict(login, password="wrong password"))  # 401
    walk.call("POST", "/auth/token", json={})  # 400
    walk.call("POST", "/auth/token", data="[", content_type="application/json")
    walk.call("POST", "/auth/token", data="x", content_type="text/csv")
    walk.call("POST", "/auth/token", data=TOO_LARGE, content_type="application/json")
    walk.call("GET", "/clients/me", headers={"Authorization": f"Bearer {token}"})
    walk.call("GET", "/clients/me", headers=operator)  # 403
    assert walk.call("GET", "/clients/me").headers["WWW-Authenticate"] == "Bearer"


def walk_wallets(walk, operator, ada, wallet_id):
    wallet, deposits, operations = (f"/wallets/{wallet_id}", f"/wallets/{wallet_id}/deposits",
                                    f"/wallets/{wallet_id}/operations")
    for headers in (ada, operator):
        walk.call("GET", "/wallets/{wallet_id}", wallet, headers=headers)
    walk.call("GET", "/wallets/{wallet_id}", "/wallets/wal_nope", headers=ada)
    walk.call("GET", "/wallets/{wallet_id}", wallet)
    template = "/wallets/{wallet_id}/deposits"
    key = dict(operator, **{"Idempotency-Key": "dep-1"})
    walk.call("POST", template, deposits, json={"amount": "5.00", "details": "top-up"}, headers=key)
    walk.call("POST", template, deposits, json={"amount": "5.00", "details": "top-up"}, headers=key)
    walk.call("POST", template, deposits, json={"amount": "6.00"}, headers=key)  # 422 reused
    walk.call("POST", template, deposits, json={"amount": "0"}, headers=operator)  # 400
    walk.call("POST", template, deposits, data="x", content_type="text/plain", headers=operator)
    walk.call("POST", template, deposits, data=TOO_LARGE, content_type="application/json", headers=operator)
    walk.call("POST", template, "/wallets/wal_nope/deposits", json={"amount": "1"}, headers=operator)
    walk.call("POST", template, deposits, json={"amount": "1"}, headers=ada)  # 403
    walk.call("POST", template, deposits, json={"amount": "1"})  # 401
    template = "/wallets/{wallet_id}/operations"
    page = walk.call("GET", template, operations + "?limit=1", headers=ada).json
    assert page["has_more"] and page["next_cursor"]
    walk.call("GET", template, operations + f"?limit=1&after={page['next_cursor']}", headers=operator)
    walk.call("GET", template, operations + "?limit=0", headers=ada)  # 400 validation_failed
    walk.call("GET", template, operations + "?after=%%%", headers=ada)  # 400 invalid_cursor
    walk.call("GET", template, "/wallets/wal_nope/operations", headers=ada)
    walk.call("GET", template, operations)


def walk_transfers(walk, operator, ada, ada_wallet, bob_wallet):
    def send(amount, to=bob_wallet, source=ada_wallet, headers=ada, **extra):
        body = {"from_wallet_id": source, "to_wallet_id": to, "amount": amount}
        return walk.call("POST", "/transfers", json=body, headers=dict(headers, **extra))

    key = {"Idempotency-Key": "order-1"}
    transfer_id = send("12.34", details="x", **key).json["id"]
    assert send("12.34", **key).headers["Idempotent-Replayed"] == "true"
    send("1.00", **key)  # 422 idempotency_key_reused
    send("1.00", source=bob_wallet, to=ada_wallet)  # 404: not the caller's wallet
    send("1.00", to="wal_nope")  # 422 wallet_not_found
    send("1.00", to=ada_wallet)  # 422 accounts_must_be_different
    refused = send("999.00", **{"Idempotency-Key": "order-2"})  # 422 insufficient_funds
    replayed = send("999.00", **{"Idempotency-Key": "order-2"})
    assert refused.json["code"] == replayed.json["code"] == "insufficient_funds"
    assert replayed.headers["Idempotent-Replayed"] == "true"
    send("1.001")  # 400
    walk.call("POST", "/transfers", data="{", content_type="application/json", headers=ada)
    walk.call("POST", "/transfers", data="{}", content_type="text/plain", headers=ada)
    walk.call("POST", "/transfers", data=TOO_LARGE, content_type="application/json", headers=ada)
    send("1.00", headers=operator)  # 403
    send("1.00", headers={})  # 401
    return transfer_id


def walk_batches(walk, operator, ada, ada_wallet, bob_wallet):
    def send(mode, *amounts, source=ada_wallet, headers=ada, **extra):
        items = [{"from_wallet_id": source, "to_wallet_id": bob_wallet, "amount": a, "ref": f"r{i}"}
                 for i, a in enumerate(amounts)]
        return walk.call("POST", "/transfer-batches", json={"mode": mode, "transfers": items},
                         headers=dict(headers, **extra))

    key = {"Idempotency-Key": "batch-1"}
    assert send("independent", "1.00", "999.00", **key).json["results"][1]["error"]["code"] == (
        "insufficient_funds")
    assert send("independent", "1.00", "999.00", **key).headers["Idempotent-Replayed"] == "true"
    send("independent", "2.00", **key)  # 422 idempotency_key_reused
    assert send("atomic", "1.00", "999.00").json["results"][0]["error"]["code"] == "batch_failed"
    send("atomic", "1.00", source=bob_wallet)  # 404: not the caller's wallet
    send("atomic", "1.001")  # 400
    send("atomic", "1.00", headers=operator)  # 403
    send("atomic", "1.00", headers={})  # 401
    send("atomic", "1.00", **{"Idempotency-Key": ""})  # 400 invalid_idempotency_key
    template = "/transfer-batches"
    walk.call("POST", template, data="{", content_type="application/json", headers=ada)
    walk.call("POST", template, data="{}", content_type="text/plain", headers=ada)
    walk.call("POST", template, data="[" + " " * (1024 * 1024) + "]", content_type="application/json",
              headers=ada)  # 413: this route allows 1 MiB, more than TOO_LARGE


def walk_refunds(walk, operator, ada, bob, transfer_id, ada_wallet):
    template, url = "/transfers/{transfer_id}/refunds", f"/transfers/{transfer_id}/refunds"
    key = dict(bob, **{"Idempotency-Key": "refund-1"})
    refund = walk.call("POST", template, url, json={"amount": "1.00"}, headers=key).json
    assert walk.call("POST", template, url, json={"amount": "1.00"}, headers=key).json == refund
    walk.call("POST", template, url, json={"amount": "2.00"}, headers=key)  # 422 reused
    walk.call("POST", template, url, json={"amount": "99.00"}, headers=bob)  # 422 exceeds
    walk.call("POST", template, f"/transfers/{refund['id']}/refunds", json={}, headers=operator)
    walk.call("POST", template, url, json={"amount": "0"}, headers=bob)  # 400
    walk.call("POST", template, url, data="x", content_type="text/plain", headers=bob)  # 415
    walk.call("POST", template, url, data=TOO_LARGE, content_type="application/json", headers=bob)  # 413
    walk.call("POST", template, url, json={}, headers=ada)  # 404: the payer
    walk.call("POST", template, url, json={})  # 401
    walk.call("POST", template, url, json={"details": "all the rest"}, headers=operator)
    assert walk.call("GET", "/transfers/{transfer_id}", f"/transfers/{refund['id']}",
                     headers=ada).json["refund_of"] == transfer_id
    walk.call("POST", "/payment-requests", json={"from_wallet_id": ada_wallet, "amount": "0.01"},
              headers=operator)  # 403 (and 400 below): before the requests' own walk


def walk_payment_requests(walk, operator, ada, ada_wallet, bob, bob_wallet):
    def ask(amount="3.00", headers=bob, key=None, **fields):
        body = dict({"to_wallet_id": bob_wallet, "from_wallet_id": ada_wallet, "amount": amount}, **fields)
        headers = dict(headers, **{"Idempotency-Key": key}) if key else headers
        return walk.call("POST", "/payment-requests", json=body, headers=headers)

    def answer(action, request_id, headers=ada, **extra):
        return walk.call("POST", f"/payment-requests/{{request_id}}/{action}",
                         f"/payment-requests/{request_id}/{action}", headers=dict(headers, **extra))

    paid = ask(details="dinner", expires_in_s=60, key="ask-1").json["id"]
    ask(details="dinner", expires_in_s=60, key="ask-1")  # replay
    ask("4.00", key="ask-1")  # 422 reused
    ask(from_wallet_id="wal_nope")  # 422 wallet_not_found
    ask(from_wallet_id=bob_wallet)  # 422 accounts_must_be_different
    ask(to_wallet_id=ada_wallet, from_wallet_id=bob_wallet)  # 404: not the caller's wallet
    ask(expires_in_s=0)  # 400
    walk.call("POST", "/payment-requests", data="{", content_type="text/plain", headers=bob)  # 415
    walk.call("POST", "/payment-requests", data=TOO_LARGE, content_type="application/json", headers=bob)
    ask(headers={})  # 401
    answer("approve", paid, headers=bob)  # 403: the payee
    answer("approve", paid, **{"Idempotency-Key": "\x01"})  # 400
    answer("approve", paid, **{"Idempotency-Key": "pay-1"})
    answer("approve", paid)  # 409
    answer("approve", "pr_000000000000000000000000")  # 404
    answer("approve", paid, headers={})  # 401
    poor = ask("999.00").json["id"]
    answer("approve", poor)  # 422 insufficient_funds
    answer("decline", poor)
    for action in ("decline", "cancel"):
        answer(action, poor, headers=bob if action == "cancel" else ada)  # 409
        answer(action, poor, headers=ada if action == "cancel" else bob)  # 403
        answer(action, "pr_000000000000000000000000")  # 404
        answer(action, poor, headers={})  # 401
    answer("cancel", ask().json["id"], headers=bob)
    for headers in (ada, bob, operator):
        walk.call("GET", "/payment-requests/{request_id}", f"/payment-requests/{paid}", headers=headers)
    walk.call("GET", "/payment-requests/{request_id}", "/payment-requests/pr_nope", headers=ada)
    walk.call("GET", "/payment-requests/{request_id}", f"/payment-requests/{paid}")
    page = walk.call("GET", "/payment-requests", "/payment-requests?role=payer&limit=1", headers=ada).json
    assert page["has_more"]
    walk.call("GET", "/payment-requests", f"/payment-requests?after={page['next_cursor']}&status=paid",
              headers=ada)
    walk.call("GET", "/payment-requests", "/payment-requests?role=boss", headers=ada)  # 400
    walk.call("GET", "/payment-requests", "/payment-requests?after=%%%", headers=ada)  # 400 cursor
    walk.call("GET", "/payment-requests", "/payment-requests", headers=operator)  # 403
    walk.call("GET", "/payment-requests", "/payment-requests")  # 401


def walk_withdrawals(walk, operator, ada, ada_wallet, bob):
    from app.ledger import units
    app = walk.client.application
    make = "/withdrawals"

    def withdraw(amount, headers=ada, **extra):
        body = {"wallet_id": ada_wallet, "amount": amount,
                "destination": {"type": "bank_account", "account": "acct-1"}}
        return walk.call("POST", make, json=body, headers=dict(headers, **extra))

    key = {"Idempotency-Key": "wd-1"}
    withdrawal = withdraw("2.00", **key).json
    assert withdraw("2.00", **key).headers["Idempotent-Replayed"] == "true"
    withdraw("1.00", **key)  # 422 idempotency_key_reused
    withdraw("1.00", headers=bob)  # 404: not bob's wallet
    withdraw("999.00")  # 422 insufficient_funds
    withdraw("1.001")  # 400
    withdraw("1.00", **{"Idempotency-Key": "k" * 256})  # 400
    walk.call("POST", make, data="x", content_type="text/plain", headers=ada)  # 415
    walk.call("POST", make, data=TOO_LARGE, content_type="application/json", headers=ada)  # 413
    withdraw("1.00", headers=operator)  # 403
    withdraw("1.00", headers={})  # 401
    one, settle = "/withdrawals/{withdrawal_id}", "/withdrawals/{withdrawal_id}/settle"
    url = f"/withdrawals/{withdrawal['id']}"
    for headers in (ada, operator):
        walk.call("GET", one, url, headers=headers)
    walk.call("GET", one, url, headers=bob)  # 404: not bob's
    walk.call("GET", one, url)  # 401
    walk.call("POST", settle, url + "/settle", json={"outcome": "succeeded"}, headers=operator)  # 409
    for step in app.extensions["withdrawal_steps"].values():
        step(app.extensions["store"].tenant("default"), units.now(), 10)
    settle_key = dict(operator, **{"Idempotency-Key": "settle-1"})
    walk.call("POST", settle, url + "/settle", json={"outcome": "failed"}, headers=settle_key)
    walk.call("POST", settle, url + "/settle", json={"outcome": "failed"}, headers=settle_key)
    walk.call("POST", settle, url + "/settle", json={"outcome": "returned"}, headers=settle_key)  # 422
    walk.call("POST", settle, "/withdrawals/wd_nope/settle", json={"outcome": "failed"}, headers=operator)
    walk.call("POST", settle, url + "/settle", json={"outcome": "lost"}, headers=operator)  # 400
    walk.call("POST", settle, url + "/settle", json={"outcome": "failed"}, headers=ada)  # 403
    walk.call("POST", settle, url + "/settle", json={"outcome": "failed"})  # 401
    walk.call("POST", settle, url + "/settle", data="x", content_type="text/plain", headers=operator)
    walk.call("POST", settle, url + "/settle", data=TOO_LARGE, content_type="application/json",
              headers=operator)  # 413
    walk.call("POST", settle, url + "/settle", json={"outcome": "failed"},
              headers=dict(operator, **{"Idempotency-Key": "k" * 256}))  # 400
    withdraw("1.00")
    listing = "/wallets/{wallet_id}/withdrawals"
    page = walk.call("GET", listing, f"/wallets/{ada_wallet}/withdrawals?limit=1", headers=ada).json
    walk.call("GET", listing, f"/wallets/{ada_wallet}/withdrawals?after={page['next_cursor']}&status=failed",
              headers=operator)
    walk.call("GET", listing, f"/wallets/{ada_wallet}/withdrawals?status=lost", headers=ada)  # 400
    walk.call("GET", listing, f"/wallets/{ada_wallet}/withdrawals?after=bm9wZQ", headers=ada)  # 400
    walk.call("GET", listing, f"/wallets/{ada_wallet}/withdrawals", headers=bob)  # 404
    walk.call("GET", listing, f"/wallets/{ada_wallet}/withdrawals")  # 401


def walk_holds(walk, operator, ada, ada_wallet, bob, bob_wallet):
    def place(amount, to=bob_wallet, source=ada_wallet, headers=ada, **extra):
        body = {"from_wallet_id": source, "to_wallet_id": to, "amount": amount}
        return walk.call("POST", "/holds", json=body, headers=dict(headers, **extra))

    key = {"Idempotency-Key": "hold-1"}
    hold = place("10.00", details="order 7", **key).json
    assert place("10.00", details="order 7", **key).headers["Idempotent-Replayed"] == "true"
    place("1.00", **key)  # 422 idempotency_key_reused
    place("1.00", source=bob_wallet, to=ada_wallet)  # 404
    place("1.00", to="wal_nope")  # 422 wallet_not_found
    place("1.00", to=ada_wallet)  # 422 accounts_must_be_different
    place("999.00")  # 422 insufficient_funds
    place("1.001")  # 400
    walk.call("POST", "/holds", data="x", content_type="text/plain", headers=ada)  # 415
    walk.call("POST", "/holds", data=TOO_LARGE, content_type="application/json", headers=ada)  # 413
    place("1.00", headers=operator)  # 403
    place("1.00", headers={})  # 401
    one, capture = "/holds/{hold_id}", "/holds/{hold_id}/capture"
    url = f"/holds/{hold['id']}"
    for headers in (ada, bob, operator):
        walk.call("GET", one, url, headers=headers)
    walk.call("GET", one, "/holds/hold_nope", headers=ada)
    walk.call("GET", one, url)
    capture_key = dict(bob, **{"Idempotency-Key": "cap-1"})
    walk.call("POST", capture, url + "/capture", json={"amount": "4.00"}, headers=capture_key)
    walk.call("POST", capture, url + "/capture", json={"amount": "4.00"}, headers=capture_key)
    walk.call("POST", capture, url + "/capture", json={"amount": "3.00"}, headers=capture_key)  # 422
    walk.call("POST", capture, url + "/capture", json={"amount": "7.00"}, headers=bob)  # 422 exceeds
    walk.call("POST", capture, url + "/capture", json={"amount": "1.00"}, headers=ada)  # 403 payer
    walk.call("POST", capture, "/holds/hold_nope/capture", json={}, headers=bob)  # 404
    walk.call("POST", capture, url + "/capture", json={"final": "yes"}, headers=bob)  # 400
    walk.call("POST", capture, url + "/capture", data="x", content_type="text/plain", headers=bob)
    walk.call("POST", capture, url + "/capture", json={})  # 401
    walk.call("POST", capture, url + "/capture", data=TOO_LARGE, content_type="application/json",
              headers=bob)  # 413
    void = "/holds/{hold_id}/void"
    walk.call("POST", void, url + "/void", headers=ada)  # 403: the payer cannot void
    walk.call("POST", void, "/holds/hold_nope/void", headers=bob)  # 404
    walk.call("POST", void, url + "/void", headers=dict(bob, **{"Idempotency-Key": "k" * 256}))
    walk.call("POST", void, url + "/void")  # 401
    walk.call("POST", void, url + "/void", headers=dict(operator, **{"Idempotency-Key": "void-1"}))
    walk.call("POST", void, f"/holds/{place('1.00').json['id']}/void",
              headers=dict(operator, **{"Idempotency-Key": "void-1"}))  # 422: the key, another hold
    walk.call("POST", void, url + "/void", headers=bob)  # 409 hold_not_pending
    walk.call("POST", capture, url + "/capture", json={}, headers=bob)  # 409
    listing, holds = "/wallets/{wallet_id}/holds", f"/wallets/{ada_wallet}/holds"
    page = walk.call("GET", listing, holds + "?limit=1", headers=ada).json
    assert page["has_more"] and page["next_cursor"]
    walk.call("GET", listing, holds + f"?status=voided&after={page['next_cursor']}", headers=operator)
    walk.call("GET", listing, holds + "?status=gone", headers=ada)  # 400 validation_failed
    walk.call("GET", listing, holds + "?after=%%%", headers=ada)  # 400 invalid_cursor
    walk.call("GET", listing, f"/wallets/{bob_wallet}/holds", headers=ada)  # 404
    walk.call("GET", listing, holds)  # 401


def walk_service(walk, operator, ada, wallet_id):
    template, report = "/wallets/{wallet_id}/report", f"/wallets/{wallet_id}/report"
    for query in ("", "?format=csv", "?format=xml&from=2020-01-01", "?format=json&to=2999-01-01T00:00:00Z"):
        walk.call("GET", template, report + query, headers=ada)
    walk.call("GET", template, report, headers=dict(operator, Accept="text/csv"))
    walk.call("GET", template, report + "?format=pdf&from=yesterday", headers=ada)  # 400
    walk.call("GET", template, report, headers=dict(ada, Accept="image/png"))  # 406
    walk.call("GET", template, "/wallets/wal_nope/report", headers=ada)  # 404
    walk.call("GET", template, report)  # 401
    assert walk.call("GET", "/audit", headers=operator).json["ok"] is True
    walk.call("GET", "/audit", headers=ada)  # 403
    walk.call("GET", "/audit")  # 401
    bank = walk.call("GET", "/system-accounts", headers=operator).json["data"][0]
    assert bank["name"] == "bank" and bank["balance"].startswith("-")
    walk.call("GET", "/system-accounts", headers=ada)  # 403
    walk.call("GET", "/system-accounts")  # 401
    walk.call("GET", "/ready")
    walk.call("GET", "/metrics")


def walk_events(walk, app, operator, ada, bob):
    page = walk.call("GET", "/events", "/events?limit=1", headers=ada).json
    assert page["has_more"] and page["data"][0]["type"] == "deposit.posted"
    walk.call("GET", "/events", f"/events?after={page['next_cursor']}&type=transfer.posted", headers=operator)
    walk.call("GET", "/events", "/events?type=nope.happened", headers=ada)  # 400 validation_failed
    walk.call("GET", "/events", "/events?after=%%%", headers=ada)  # 400 invalid_cursor
    walk.call("GET", "/events")  # 401
    hooks = "/webhook-endpoints"
    walk.call("POST", hooks, json={"url": "https://127.0.0.1/hook"}, headers=ada)  # 422 loopback
    walk.call("POST", hooks, json={"url": "ftp://x"}, headers=ada)  # 400
    walk.call("POST", hooks, data="{", content_type="application/json", headers=ada)
    walk.call("POST", hooks, data="{}", content_type="text/plain", headers=ada)
    walk.call("POST", hooks, data=TOO_LARGE, content_type="application/json", headers=ada)  # 413
    walk.call("POST", hooks, json={"url": "https://example.com/hook"})  # 401
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    closed = "http://127.0.0.1:9/hook"  # the discard port: refused at once, so the attempt fails
    created = walk.call("POST", hooks, json={"url": closed, "events": ["*"]}, headers=ada).json
    assert created["secret"].startswith("whsec_")
    for _ in range(webhooks.MAX_ENDPOINTS):
        assert walk.client.post(hooks, json={"url": closed}, headers=bob).status_code == 201
    walk.call("POST", hooks, json={"url": closed}, headers=bob)  # 409 too_many_webhook_endpoints
    one, deliveries = f"{hooks}/{created['id']}", f"{hooks}/{created['id']}/deliveries"
    assert "secret" not in walk.call("GET", hooks, headers=ada).json["data"][0]
    walk.call("GET", hooks)
    walk.call("GET", "/webhook-endpoints/{endpoint_id}", one, headers=ada)
    walk.call("GET", "/webhook-endpoints/{endpoint_id}", one, headers=bob)  # 404: not bob's
    walk.call("GET", "/webhook-endpoints/{endpoint_id}", one)
    _, _, wallet = Api(walk.client).member()
    Api(walk.client).deposit(wallet, "1.00")  # not ada's wallet: no delivery to ada's endpoint
    walk.client.post(f"/wallets/{walk.client.get('/clients/me', headers=ada).json['wallet']['id']}/deposits",
                     json={"amount": "1.00"}, headers=operator)
    dispatch.Dispatcher(app.extensions["store"].tenant("default"), app.config).tick()
    listed = walk.call("GET", "/webhook-endpoints/{endpoint_id}/deliveries", deliveries, headers=ada).json
    assert [d["status"] for d in listed["data"]] == ["pending"], listed
    walk.call("GET", "/webhook-endpoints/{endpoint_id}/deliveries", deliveries, headers=bob)  # 404
    walk.call("GET", "/webhook-endpoints/{endpoint_id}/deliveries", deliveries)
    template = "/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry"
    retry = f"{deliveries}/{listed['data'][0]['id']}/retry"
    assert walk.call("POST", template, retry, headers=ada).json["status"] == "pending"
    app.extensions["store"].tenant("default").collections["deliveries"].update_one(
        {"_id": listed["data"][0]["id"]}, {"$set": {"status": "delivering",
                                                    "lease_until": datetime(2999, 1, 1)}})
    walk.call("POST", template, retry, headers=ada)  # 409 delivery_in_progress
    walk.call("POST", template, f"{deliveries}/dlv_nope/retry", headers=ada)  # 404
    walk.call("POST", template, retry)  # 401
    walk.call("DELETE", "/webhook-endpoints/{endpoint_id}", one, headers=ada)
    walk.call("DELETE", "/webhook-endpoints/{endpoint_id}", one, headers=ada)  # 404: gone
    walk.call("DELETE", "/webhook-endpoints/{endpoint_id}", one)


def test_ready_says_503_when_the_database_does_not_answer(app, walk, monkeypatch):
    monkeypatch.setattr(app.extensions["storage"], "ping", lambda: False)
    assert walk.call("GET", "/ready").status_code == 503
    assert ("GET", "/ready", 503) in walk.seen


def test_every_operation_on_storage_answers_503_when_the_database_is_gone(app, client, api, monkeypatch):
    doc = client.get("/openapi.json").json
    _, ada, ada_wallet = api.member(balance="5.00")
    store = app.extensions["storage"]  # what every tenant's view runs its work on

    def gone(*args, **kwargs):
        raise ServerSelectionTimeoutError("no primary within the selection timeout")

    for name in ("transaction", "read", "snapshot", "atomic"):
        monkeypatch.setattr(store, name, gone)
    walk, checked = Walk(client, doc), []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            codes = operation["responses"].get("503", {}).get("content", {})
            if "database_unavailable" not in json.dumps(codes):
                continue
            operator_only = {"clientBearer": []} not in operation["security"]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            url = path.replace("{wallet_id}", ada_wallet).replace("{transfer_id}", "tr_0").replace(
                "{endpoint_id}", "we_0").replace("{delivery_id}", "dlv_0").replace(
                "{tenant_id}", "default").replace("{key_id}", "key_0")
            url += REQUIRED_QUERY.get(path, "")
            response = walk.call(method.upper(), path, url, json=body.get("example"),
                                 headers=api.operator if operator_only else ada)
            assert (response.status_code, response.json["code"]) == (503, "database_unavailable"), url
            checked.append((method, path))
    assert len(checked) >= 10


def test_the_document_refuses_what_the_api_never_sends(client):
    doc = Document(client.get("/openapi.json").json)
    schemas = doc.document["components"]["schemas"]
    deposit, operation = schemas["Deposit"]["examples"][0], schemas["Operation"]["examples"][0]
    assert not doc.errors("/components/schemas/Deposit", deposit)
    assert doc.errors("/components/schemas/Deposit", dict(deposit, password_hash="x"))
    assert doc.errors("/components/schemas/Operation", dict(operation, balance="1.00"))
    assert doc.errors("/components/schemas/Operation", dict(operation, amount="1.5"))
    assert doc.errors("/components/schemas/Wallet", dict(schemas["Wallet"]["examples"][0], balance="-1.00"))
    problem = {"type": "/problems/x", "title": "X", "status": 422, "detail": "x", "code": "no_such_code"}
    pointer = "/paths/~1transfers/post/responses/422/content/application~1problem+json/schema"
    assert doc.errors(pointer, problem)
    assert not doc.errors(pointer, dict(problem, code="insufficient_funds"))


def walk_limits(walk, operator, ada, ada_wallet, bob_wallet):
    template, limits = "/wallets/{wallet_id}/limits", f"/wallets/{ada_wallet}/limits"
    for headers in (ada, operator):
        walk.call("GET", template, limits, headers=headers)
    walk.call("GET", template, "/wallets/wal_nope/limits", headers=ada)  # 404
    walk.call("GET", template, limits)  # 401
    walk.call("PUT", template, limits, json={"per_transfer_max": "1.00", "daily_out_count": None},
              headers=operator)
    walk.call("PUT", template, f"/wallets/{bob_wallet}/limits", json={"max_balance": "1.00"},
              headers=operator)
    walk.call("PUT", template, limits, json={"max_balance": 5}, headers=operator)  # 400
    walk.call("PUT", template, limits, data="{", content_type="application/json", headers=operator)
    walk.call("PUT", template, limits, data="{}", content_type="text/plain", headers=operator)  # 415
    walk.call("PUT", template, limits, data=TOO_LARGE, content_type="application/json", headers=operator)
    walk.call("PUT", template, "/wallets/wal_nope/limits", json={}, headers=operator)  # 404
    walk.call("PUT", template, limits, json={}, headers=ada)  # 403
    walk.call("PUT", template, limits, json={})  # 401
    refused = walk.call("POST", "/transfers", json={
        "from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet, "amount": "1.01"}, headers=ada)
    assert (refused.json["limit"], refused.json["remaining"]) == ("per_transfer_max", "1.00")
    refused = walk.call("POST", "/wallets/{wallet_id}/deposits", f"/wallets/{bob_wallet}/deposits",
                        json={"amount": "1.01"}, headers=operator)
    assert refused.json["limit"] == "max_balance"
    walk.call("GET", template, limits, headers=ada)  # with limits and usage
    template, balance = "/wallets/{wallet_id}/balance", f"/wallets/{ada_wallet}/balance"
    walk.call("GET", template, balance + "?at=2999-01-01T00:00:00Z", headers=ada)
    walk.call("GET", template, balance + "?seq=0", headers=operator)
    walk.call("GET", template, balance, headers=ada)  # 400
    walk.call("GET", template, "/wallets/wal_nope/balance?seq=1", headers=ada)  # 404
    walk.call("GET", template, balance + "?seq=1")  # 401


def walk_tenants(walk, operator, ada):
    """Tenants, API keys and the admin log, each status they document."""
    body = {"name": "Acme", "service_limits": {"max_clients": 5, "max_api_keys": 1,
                                               "max_webhook_endpoints": 2, "max_pending_payment_requests": 3}}
    created = walk.call("POST", "/tenants", json=body, headers=operator).json
    tenant_id, key = created["id"], {"Authorization": f"Bearer {created['api_key']['secret']}"}
    walk.call("POST", "/tenants", json={"name": ""}, headers=operator)  # 400
    walk.call("POST", "/tenants", json=body)  # 401
    walk.call("POST", "/tenants", json=body, headers=key)  # 403: a tenant's key is not the platform
    walk.call("POST", "/tenants", data="{}", content_type="text/plain", headers=operator)  # 415
    walk.call("POST", "/tenants", data=TOO_LARGE, content_type="application/json", headers=operator)  # 413
    walk.call("GET", "/tenants", headers=operator)
    walk.call("GET", "/tenants", "/tenants?limit=0", headers=operator)  # 400
    walk.call("GET", "/tenants/{tenant_id}", f"/tenants/{tenant_id}", headers=operator)
    walk.call("GET", "/tenants/{tenant_id}", "/tenants/ten_000000000000000000000000", headers=operator)  # 404
    walk.call("PATCH", "/tenants/{tenant_id}", f"/tenants/{tenant_id}",
              json={"name": "Acme 2"}, headers=operator)
    walk.call("PATCH", "/tenants/{tenant_id}", f"/tenants/{tenant_id}",
              json={"status": "gone"}, headers=operator)
    walk.call("PATCH", "/tenants/{tenant_id}", "/tenants/ten_000000000000000000000000", json={"name": "x"},
              headers=operator)
    walk.call("PATCH", "/tenants/{tenant_id}", f"/tenants/{tenant_id}", data="{}", content_type="text/plain",
              headers=operator)
    walk.call("PATCH", "/tenants/{tenant_id}", f"/tenants/{tenant_id}", data=TOO_LARGE,
              content_type="application/json", headers=operator)
    walk.call("GET", "/api-keys", headers=key)
    walk.call("POST", "/api-keys", json={"name": "second",
              "scopes": ["wallets:read"]}, headers=key)  # 422: max 1
    walk.call("DELETE", "/api-keys/{key_id}",
              f"/api-keys/{created['api_key']['id']}", headers=operator)  # default's: 404
    mine = walk.call("POST", "/api-keys", json={"name": "ops",
                     "scopes": ["api_keys:write"]}, headers=operator).json
    walk.call("POST", "/api-keys", json={"name": "ops", "scopes": ["nope:read"]}, headers=operator)  # 400
    walk.call("POST", "/api-keys", data="{}", content_type="text/plain", headers=operator)
    walk.call("POST", "/api-keys", data=TOO_LARGE, content_type="application/json", headers=operator)
    walk.call("DELETE", "/api-keys/{key_id}", f"/api-keys/{mine['id']}", headers=operator)
    walk.call("GET", "/admin-log", headers=operator)
    walk.call("GET", "/admin-log", "/admin-log?action=nope", headers=operator)  # 400
    walk.call("GET", "/admin-log", headers=ada)  # 403: a client


def walk_tenant_refusals(walk, operator, ada):
    """What every authenticated endpoint may answer because of its tenant: a platform operator naming
    no tenant (404), a client sending X-Tenant-ID (403), a key over its tenant's rate limit (429)."""
    slow_limit = {"requests_per_s": 1, "burst": 1}
    limited = walk.call("POST", "/tenants", json={"name": "Slow", "rate_limit": slow_limit},
                        headers=operator).json
    slow = {"Authorization": f"Bearer {limited['api_key']['secret']}"}
    walk.call("GET", "/api-keys", headers=slow)  # the one request its bucket holds
    for method, path, status in sorted(walk.documented()):
        url = path
        for name in ("wallet_id", "transfer_id", "request_id", "hold_id", "withdrawal_id", "endpoint_id",
                     "delivery_id", "tenant_id", "key_id", "monitor_id"):
            url = url.replace("{" + name + "}", "nope")
        url += REQUIRED_QUERY.get(path, "")
        if status == 401:
            walk.call(method, path, url)
        elif status == 404:
            walk.call(method, path, url, headers=dict(
                operator, **{"X-Tenant-ID": "ten_000000000000000000000000"}))
        elif status == 403:
            walk.call(method, path, url, headers=dict(ada, **{"X-Tenant-ID": "default"}))
        elif status == 429:
            response = walk.call(method, path, url, headers=slow)
            assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1


def walk_monitors(walk, operator, ada, ada_wallet, bob):
    base = "/wallets/{wallet_id}/balance-monitors"
    url, body = f"/wallets/{ada_wallet}/balance-monitors", {"field": "balance",
                                                            "condition": "lt", "amount": "1.00"}
    made = [walk.call("POST", base, url, json=body, headers=ada if n else operator).json for n in range(10)]
    walk.call("POST", base, url, json=body, headers=ada)  # 422: ten already
    walk.call("POST", base, url, json={"field": "x"}, headers=ada)  # 400
    walk.call("POST", base, url, data="{}", content_type="text/plain", headers=ada)  # 415
    walk.call("POST", base, url, data=TOO_LARGE, content_type="application/json", headers=ada)  # 413
    walk.call("POST", base, url, json=body, headers=bob)  # 404: not his wallet
    walk.call("GET", base, url, headers=ada)
    one = base + "/{monitor_id}"
    walk.call("GET", one, f"{url}/{made[0]['id']}", headers=ada)
    walk.call("GET", one, f"{url}/bm_000000000000000000000000", headers=ada)  # 404
    walk.call("DELETE", one, f"{url}/{made[0]['id']}", headers=ada)
