"""Tenants over HTTP: isolation on every route, keys and scopes, suspension, service and rate limits,
the admin log, the audit per tenant, and the version 2 -> 3 migration. Both engines."""
import pytest

from app.ledger import accounts
from app.storage import schema
from app.storage.tenancy import DEFAULT_TENANT, TenantViolation
from tests.conftest import OPERATOR_TOKEN, Api, check_ledger, run_at_once

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
LIMITS = {"max_clients": 100, "max_api_keys": 10, "max_webhook_endpoints": 10,
          "max_pending_payment_requests": 100}


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


class Tenant:
    """A tenant made through the API, with its first key ("*"), a client with money and its wallet."""

    def __init__(self, client, name, **fields):
        response = client.post("/tenants", json=dict({"name": name, "service_limits": LIMITS}, **fields),
                               headers=OPERATOR)
        assert response.status_code == 201, response.json
        self.client, self.doc = client, response.json
        self.id, self.key = self.doc["id"], bearer(self.doc["api_key"]["secret"])
        self.platform = dict(OPERATOR, **{"X-Tenant-ID": self.id})

    def signup(self, email, password="password123"):
        response = self.client.post("/clients", json={"email": email, "name": "N", "password": password},
                                    headers=self.key)
        assert response.status_code == 201, response.json
        token = self.client.post("/auth/token", json={"email": email, "password": password,
                                                      "tenant_id": self.id})
        assert token.status_code == 200, token.json
        return response.json["wallet"]["id"], bearer(token.json["access_token"])


@pytest.fixture
def two(app, client):
    """Tenants A and B, each with two clients; A's first client holds 100.00."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True  # endpoints at 127.0.0.1 (nothing is delivered here)
    a, b = Tenant(client, "A"), Tenant(client, "B")
    for tenant in (a, b):
        tenant.wallet, tenant.headers = tenant.signup("ada@example.com")  # the same email in both
        tenant.other_wallet, tenant.other_headers = tenant.signup("bob@example.com")
    assert client.post(f"/wallets/{a.wallet}/deposits",
                       json={"amount": "100.00"}, headers=a.key).status_code == 201
    return a, b


def test_a_tenant_is_created_with_a_key_shown_once(client):
    created = Tenant(client, "Acme")
    assert created.doc["status"] == "active" and created.doc["api_key"]["scopes"] == ["*"]
    assert created.doc["api_key"]["secret"].startswith("sk_")
    assert "secret" not in client.get(f"/tenants/{created.id}", headers=OPERATOR).json
    listed = client.get("/api-keys", headers=created.key).json["data"]
    assert [k["id"] for k in listed] == [created.doc["api_key"]["id"]] and "secret" not in listed[0]
    assert listed[0]["last_used_at"] is not None  # the listing itself used it
    ids = [t["id"] for t in client.get("/tenants?limit=100", headers=OPERATOR).json["data"]]
    assert DEFAULT_TENANT in ids and created.id in ids


def test_without_tenant_context_everything_is_the_default_tenant(client, api, store):
    body, headers, wallet_id = api.member(balance="5.00")
    assert store.read(lambda db: db.wallets.find_one({"_id": wallet_id}))["tenant_id"] == DEFAULT_TENANT
    assert client.get(f"/wallets/{wallet_id}", headers=dict(OPERATOR,
                      **{"X-Tenant-ID": "default"})).status_code == 200


def test_emails_are_unique_per_tenant_and_tokens_carry_their_tenant(client, two):
    a, b = two
    assert a.wallet != b.wallet  # the same email signed up in both
    again = client.post("/clients", json={"email": "ADA@example.com", "name": "N", "password": "password123"},
                        headers=a.key)
    assert (again.status_code, again.json["code"]) == (409, "email_taken")
    wrong = client.post("/auth/token", json={"email": "ada@example.com", "password": "password123"})
    assert wrong.status_code == 401  # not in default
    assert client.get("/clients/me", headers=a.headers).json["wallet"]["id"] == a.wallet


ID_ROUTES = None


def every_route_on(doc, ids):
    """(method, template, url) for every documented route whose path names an id, filled with ``ids``."""
    for path, operations in doc["paths"].items():
        if "{" not in path or path.startswith("/tenants"):
            continue
        url = path
        for name, value in ids.items():
            url = url.replace("{" + name + "}", value)
        for method in operations:
            yield method.upper(), path, url + ("?seq=1" if path.endswith("/balance") else "")


def test_another_tenants_ids_answer_like_ids_that_do_not_exist(client, two, app):
    a, b = two
    hold = client.post("/holds", json={"from_wallet_id": a.wallet, "to_wallet_id": a.other_wallet,
                                       "amount": "1.00"}, headers=a.headers).json
    transfer = client.post("/transfers", json={"from_wallet_id": a.wallet, "to_wallet_id": a.other_wallet,
                                               "amount": "2.00"}, headers=a.headers).json
    request = client.post("/payment-requests", json={"to_wallet_id": a.other_wallet,
                                                     "from_wallet_id": a.wallet,
                                                     "amount": "3.00"}, headers=a.other_headers).json
    withdrawal = client.post("/withdrawals", json={"wallet_id": a.wallet, "amount": "4.00", "destination": {
        "type": "bank_account", "account": "DE89370400440532013000"}}, headers=a.headers).json
    endpoint = client.post("/webhook-endpoints", json={"url": "https://127.0.0.1:9/hook"}, headers=a.key).json
    key = client.post("/api-keys", json={"name": "k", "scopes": ["*"]}, headers=a.key).json
    ids = {"wallet_id": a.wallet, "transfer_id": transfer["id"], "hold_id": hold["id"],
           "request_id": request["id"], "withdrawal_id": withdrawal["id"], "endpoint_id": endpoint["id"],
           "delivery_id": "dlv_000000000000000000000000", "key_id": key["id"]}
    before = [client.get(f"/wallets/{w}", headers=a.key).json for w in (a.wallet, a.other_wallet)]
    doc = client.get("/openapi.json").json
    body = {"amount": "1.00", "outcome": "succeeded", "reason": "x", "provider_reference": "r"}
    tried = 0
    for caller in (b.headers, b.key, b.platform):
        for method, path, url in every_route_on(doc, ids):
            response = client.open(url, method=method, json=body, headers=caller)
            tried += 1
            assert response.status_code in (400, 403, 404, 422), (method, url,
                                                                  response.status_code, response.json)
            if response.status_code == 403:  # only where this kind of caller may never call
                assert response.json["code"] == "forbidden", (method, url, response.json)
            if response.status_code == 422:
                assert response.json["code"] in ("wallet_not_found",), (method, url, response.json)
    # B pays A's wallet: the receiver does not exist for B.
    paid = client.post("/transfers", json={"from_wallet_id": b.wallet, "to_wallet_id": a.wallet,
                                           "amount": "0.01"},
                       headers=b.headers)
    assert (paid.status_code, paid.json["code"]) == (422, "wallet_not_found")
    assert tried > 60
    after = [client.get(f"/wallets/{w}", headers=a.key).json for w in (a.wallet, a.other_wallet)]
    assert [(w["balance"], w["held"], w["version"]) for w in after] == \
        [(w["balance"], w["held"], w["version"]) for w in before]
    assert client.get("/api-keys", headers=a.key).status_code == 200  # A's key was not revoked by B
    assert client.get(f"/transfers/{transfer['id']}", headers=a.platform).status_code == 200


def test_a_missing_scope_is_named_and_a_revoked_key_is_refused(client, two):
    a, _ = two
    reader = client.post("/api-keys", json={"name": "reader", "scopes": ["wallets:read"]}, headers=a.key).json
    headers = bearer(reader["secret"])
    assert client.get(f"/wallets/{a.wallet}", headers=headers).status_code == 200
    refused = client.post(f"/wallets/{a.wallet}/deposits", json={"amount": "1.00"}, headers=headers)
    assert (refused.status_code, refused.json["code"], refused.json["scope"]) == \
        (403, "insufficient_scope", "deposits:write")
    assert client.delete(f"/api-keys/{reader['id']}", headers=a.key).status_code == 200
    gone = client.get(f"/wallets/{a.wallet}", headers=headers)
    assert (gone.status_code, gone.json["code"]) == (401, "unauthenticated")
    assert client.delete(f"/api-keys/{reader['id']}", headers=a.key).status_code == 404
    wrong = client.get(f"/wallets/{a.wallet}", headers=bearer(reader["secret"][:-1] + "x"))
    assert wrong.status_code == 401


def test_only_the_platform_operator_may_name_a_tenant(client, two):
    a, b = two
    for caller in (a.key, a.headers):
        refused = client.get(f"/wallets/{a.wallet}", headers=dict(caller, **{"X-Tenant-ID": a.id}))
        assert (refused.status_code, refused.json["code"]) == (403, "forbidden")
    assert client.post("/tenants", json={"name": "x"}, headers=a.key).status_code == 403
    unknown = client.get("/audit", headers=dict(OPERATOR, **{"X-Tenant-ID": "ten_000000000000000000000000"}))
    assert (unknown.status_code, unknown.json["code"]) == (404, "tenant_not_found")


def test_a_suspended_tenant_reads_but_changes_nothing(client, two):
    a, b = two
    assert client.patch(f"/tenants/{a.id}", json={"status": "suspended"},
                        headers=OPERATOR).json["status"] == "suspended"
    for caller in (a.key, a.headers):
        refused = client.post("/transfers", json={"from_wallet_id": a.wallet, "to_wallet_id": a.other_wallet,
                                                  "amount": "1.00"}, headers=caller)
        assert (refused.status_code, refused.json["code"]) == (403, "tenant_suspended")
        assert client.get(f"/wallets/{a.wallet}", headers=caller).status_code == 200
    assert client.post(f"/wallets/{a.wallet}/deposits", json={"amount": "1.00"},
                       headers=a.platform).status_code == 201
    ok = client.post("/transfers", json={"from_wallet_id": b.wallet, "to_wallet_id": b.other_wallet,
                                         "amount": "0.00"}, headers=b.headers)
    assert ok.json.get("code") != "tenant_suspended"  # B is not touched
    client.patch(f"/tenants/{a.id}", json={"status": "active"}, headers=OPERATOR)
    assert client.post("/transfers", json={"from_wallet_id": a.wallet, "to_wallet_id": a.other_wallet,
                                           "amount": "1.00"}, headers=a.headers).status_code == 201


@pytest.mark.parametrize("limit", ["max_clients", "max_api_keys", "max_webhook_endpoints",
                                   "max_pending_payment_requests"])
def test_each_service_limit_holds_under_8_concurrent_creators(client, app, limit):
    most = 3
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    tenant = Tenant(client, "Capped", service_limits=dict(LIMITS, **{limit: most}))
    payer_wallet = None
    payee_wallets = []
    if limit == "max_pending_payment_requests":
        payer_wallet, _ = tenant.signup("payer@example.com")
        for n in range(8):
            payee_wallets.append(tenant.signup(f"payee{n}@example.com"))
    already = 1 if limit == "max_api_keys" else 0  # the tenant's first key holds a slot

    def create(n):
        fresh = app.test_client()
        if limit == "max_clients":
            return fresh.post("/clients", json={"email": f"c{n}@example.com", "name": "N",
                                                "password": "password123"}, headers=tenant.key)
        if limit == "max_api_keys":
            return fresh.post("/api-keys", json={"name": f"k{n}", "scopes": ["*"]}, headers=tenant.key)
        if limit == "max_webhook_endpoints":
            return fresh.post("/webhook-endpoints", json={"url": f"https://127.0.0.1:9/h{n}"},
                              headers=tenant.key)
        wallet, headers = payee_wallets[n]
        return fresh.post("/payment-requests", json={"to_wallet_id": wallet, "from_wallet_id": payer_wallet,
                                                     "amount": "1.00"}, headers=headers)

    answers = run_at_once(8, create)
    made = [r for r in answers if r.status_code == 201]
    refused = [r for r in answers if r.status_code != 201]
    assert len(made) == most - already, [(r.status_code, r.json) for r in answers]
    assert all((r.status_code, r.json["code"], r.json["limit"]) == (422, "service_limit_reached", limit)
               for r in refused), [r.json for r in refused]


def test_a_rate_limit_answers_429_with_retry_after_and_spares_health(client):
    tenant = Tenant(client, "Busy", rate_limit={"requests_per_s": 1, "burst": 3})
    answers = [client.get("/api-keys", headers=tenant.key) for _ in range(6)]
    codes = [r.status_code for r in answers]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:], codes
    limited = next(r for r in answers if r.status_code == 429)
    assert limited.json["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    assert all(client.get(path).status_code == 200 for path in ("/health", "/ready", "/metrics"))
    assert client.get("/api-keys", headers=dict(OPERATOR, **{"X-Tenant-ID": tenant.id})).status_code == 200


def test_each_admin_action_is_in_the_log_without_secrets(client, two):
    a, b = two
    key = client.post("/api-keys", json={"name": "k", "scopes": ["*"]}, headers=a.key).json
    client.delete(f"/api-keys/{key['id']}", headers=a.key)
    client.put(f"/wallets/{a.wallet}/limits", json={"daily_out_amount": "50.00"}, headers=a.key)
    endpoint = client.post("/webhook-endpoints", json={"url": "https://127.0.0.1:9/h"}, headers=a.key).json
    client.delete(f"/webhook-endpoints/{endpoint['id']}", headers=a.key)
    withdrawal = client.post("/withdrawals", json={"wallet_id": a.wallet, "amount": "4.00", "destination": {
        "type": "bank_account", "account": "DE89370400440532013000"}}, headers=a.headers).json
    client.patch(f"/tenants/{a.id}", json={"name": "A2"}, headers=OPERATOR)
    assert client.post(f"/wallets/{a.other_wallet}/freeze", json={"reason": "review"},
                       headers=a.key).status_code == 200
    assert client.post(f"/wallets/{a.other_wallet}/unfreeze", headers=a.key).status_code == 200
    settled = client.post(f"/withdrawals/{withdrawal['id']}/settle",
                          json={"outcome": "failed", "reason": "x"},
                          headers=a.key)
    log = client.get("/admin-log?limit=100", headers=a.key).json["data"]
    actions = {entry["action"] for entry in log}
    assert {"tenant.created", "tenant.updated", "api_key.created", "api_key.revoked", "limits.changed",
            "deposit.created", "webhook_endpoint.created", "webhook_endpoint.deleted", "wallet.frozen",
            "wallet.unfrozen"} <= actions, actions
    if settled.status_code == 200:
        assert "withdrawal.settled" in actions
    assert all(entry["tenant_id"] == a.id for entry in log)
    by_key = next(e for e in log if e["action"] == "api_key.created")
    assert by_key["actor"] == {"type": "api_key", "id": a.doc["api_key"]["id"]} and by_key["request_id"]
    assert next(e for e in log if e["action"] == "tenant.updated")["actor"]["type"] == "platform"
    text = str(log)
    assert a.doc["api_key"]["secret"] not in text and key["secret"] not in text and "secret_hash" not in text
    assert client.get("/admin-log", headers=b.key).json["data"][0]["tenant_id"] == b.id
    everyone = {e["tenant_id"] for e in client.get("/admin-log?limit=100", headers=OPERATOR).json["data"]}
    assert {a.id, b.id} <= everyone
    newest = client.get("/admin-log?limit=2", headers=a.key).json
    second = client.get(f"/admin-log?limit=2&after={newest['next_cursor']}", headers=a.key).json
    assert newest["has_more"] and not {e["id"] for e in newest["data"]} & {e["id"] for e in second["data"]}


def test_a_tenant_update_is_logged_with_what_it_was_and_what_it_became(client):
    acme = Tenant(client, "Acme")
    shown = client.get(f"/tenants/{acme.id}", headers=OPERATOR).json
    changed = client.patch(f"/tenants/{acme.id}", json={"name": "Acme Two", "status": "suspended",
                                                        "service_limits": dict(LIMITS, max_clients=7)},
                           headers=OPERATOR)
    assert changed.status_code == 200, changed.json
    assert changed.json == client.get(f"/tenants/{acme.id}", headers=OPERATOR).json
    fields = ("name", "status", "service_limits", "rate_limit")
    [entry] = [e for e in client.get("/admin-log?limit=100", headers=acme.platform).json["data"]
               if e["action"] == "tenant.updated"]
    assert entry["before"] == {name: shown[name] for name in fields}
    assert entry["after"] == {name: changed.json[name] for name in fields}
    assert entry["after"]["service_limits"]["max_clients"] == 7 and entry["after"]["status"] == "suspended"
    missing = client.patch("/tenants/ten_000000000000000000000000", json={"name": "X"}, headers=OPERATOR)
    assert (missing.status_code, missing.json["code"]) == (404, "tenant_not_found")


def test_each_tenants_books_sum_to_zero_and_the_platform_audits_all(client, two, app):
    a, b = two
    client.post(f"/wallets/{b.wallet}/deposits", json={"amount": "7.00"}, headers=b.key)
    mine = client.get("/audit", headers=a.key).json
    assert mine["ok"] and mine["total_deposited"] == "100.00" and mine["accounts_sum"] == "0.00"
    assert client.get("/system-accounts", headers=b.key).json["data"][0]["balance"] == "-7.00"
    everyone = client.get("/audit", headers=OPERATOR).json
    sums = {t["tenant_id"]: t for t in everyone["tenants"]}
    assert everyone["ok"] and {a.id, b.id, DEFAULT_TENANT} <= set(sums)
    assert all(t["accounts_sum"] == "0.00" for t in sums.values())
    # A bug that moves a tenant's money onto another's books is caught, naming the tenant.
    store = app.extensions["store"].tenant(a.id)
    store.collections["system_accounts"].update_one({"_id": accounts.shard_ids("bank", a.id)[0]},
                                                    {"$inc": {"balance_cents": 1}})
    broken = client.get("/audit", headers=OPERATOR).json
    assert not broken["ok"] and {v["tenant_id"] for v in broken["violations"]} == {a.id}
    assert check_ledger(app.extensions["store"].tenant(b.id)) == 700


def test_the_layer_refuses_to_cross_tenants(app):
    store = app.extensions["store"].tenant("ten_000000000000000000000001")
    with pytest.raises(TenantViolation):
        store.transaction(lambda tx: tx.wallets.insert_one({"_id": "wal_x", "tenant_id": "default"}))
    with pytest.raises(TenantViolation):
        store.transaction(lambda tx: tx.wallets.find_one_and_update(
            {"_id": "wal_x"}, {"$set": {"tenant_id": "b"}}))
    with pytest.raises(TenantViolation):
        store.read(lambda db: db.wallets.find_one({"tenant_id": "default"}))
    with pytest.raises(TenantViolation):
        lookup = {"from": "wallets", "as": "w", "localField": "x", "foreignField": "y"}
        store.read(lambda db: list(db.transfers.aggregate([{"$lookup": lookup}])))
    with pytest.raises(AttributeError):
        store.read(lambda db: db.wallets.database)
    across = app.extensions["store"]
    with pytest.raises(TenantViolation):
        across.atomic(lambda db: db.events.insert_one({"type": "x"}))


def test_a_version_2_database_is_migrated_in_batches_and_resumes(app):
    """db init on a populated version-2 database: every document lands in default, resumably."""
    engine = app.extensions["storage"]
    api = Api(app.test_client())
    _, headers, wallet_id = api.member(balance="10.00")
    _, _, other = api.member()
    assert api.transfer(headers, wallet_id, other, "3.00").status_code == 201
    for name in schema.COLLECTIONS:  # make it a version-2 database: no tenant anywhere
        if name != "meta":
            engine.collections[name].update_many({}, {"$unset": {"tenant_id": ""}})
    engine.collections["tenants"].delete_many({})
    engine.collections["meta"].update_one({"_id": "schema"}, {"$set": {"version": 2}})
    problems, _ = schema.check_initialised(engine, 3600)
    assert any("run `flask --app app db init` to migrate" in p for p in problems), problems
    calls = []
    real = schema.stamp_tenant

    def interrupted(collections, tenant_id="default", batch=2):
        calls.append(1)
        real(collections, tenant_id, batch, names=("clients", "wallets"))
        raise KeyboardInterrupt  # stopped part-way
    with pytest.raises(KeyboardInterrupt):
        schema.stamp_tenant = interrupted
        try:
            from app.ledger import seed
            schema.initialise(engine, 3600, seed=seed.SEED)
        finally:
            schema.stamp_tenant = real
    assert engine.collections["meta"].find_one({"_id": "schema"})["version"] == 2  # not yet
    from app.ledger import seed
    schema.initialise(engine, 3600, seed=seed.SEED)
    schema.initialise(engine, 3600, seed=seed.SEED)  # idempotent
    assert engine.collections["meta"].find_one({"_id": "schema"})["version"] == schema.SCHEMA_VERSION
    for name in schema.COLLECTIONS:
        if name != "meta":
            assert engine.collections[name].count_documents({"tenant_id": {"$ne": DEFAULT_TENANT}}) == 0, name
    assert schema.check_initialised(engine, 3600, seed=seed.SEED)[0] == []
    assert api.balance(headers, wallet_id) == "7.00"
    assert api.transfer(headers, wallet_id, other, "1.00").status_code == 201
    check_ledger(app.extensions["store"].tenant(DEFAULT_TENANT))
