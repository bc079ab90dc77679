"""The operators' console (/console/) through Flask's test client: every page and action, the
session and its cookie, CSRF, the rate limit at sign-in, escaping, and the security headers."""
import re
import time

import pytest

from app import ledger
from app.events import dispatch
from app.ledger import backoffice
from tests.conftest import ENGINES, OPERATOR_TOKEN, check_ledger, make_app
from tests.api.test_tenants import OPERATOR, Tenant

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
# A delivery's first failed attempt is its last (RETRY_FOR_S 0); withdrawals wait for the operator.
CONFIG = {"WITHDRAWAL_PROVIDER": "manual", "WEBHOOK_ALLOW_PRIVATE": True, "RETRY_FOR_S": 0.0,
          "WEBHOOK_TIMEOUT_S": 2.0}
HOSTILE = "<script>alert(1)</script>"


class Console:
    """A browser's part, by hand: cookies (the test client keeps them), forms and their tokens."""

    def __init__(self, client):
        self.client = client

    def sign_in(self, secret=OPERATOR_TOKEN, **environ):
        page = self.client.get("/console/sign-in", **environ)
        return self.client.post("/console/sign-in", data={
            "csrf_token": CSRF.search(page.text).group(1), "secret": secret}, **environ)

    def page(self, path):
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response

    def submit(self, page_path, action, fields, key_index=0):
        """POST ``action`` with the CSRF token (and the n-th idempotency key) of the page it is on."""
        page = self.page(page_path).text
        data = dict(fields, csrf_token=CSRF.search(page).group(1))
        keys = KEY.findall(page)
        if keys:
            data.setdefault("idempotency_key", keys[key_index])
        return self.client.post(action, data=data), data


@pytest.fixture(params=ENGINES)
def app(request):
    from tests.conftest import make_app as build
    app = build(request.param, **CONFIG)
    yield app
    store = app.extensions["storage"]
    if store.engine == "mongodb":
        store._client.drop_database(app.config["MONGO_DB"])
    store.close()


@pytest.fixture
def console(client):
    signed = Console(client)
    assert signed.sign_in().status_code == 303
    return signed


def balance(api, wallet_id):
    return api.balance(api.operator, wallet_id)


def withdraw(api, headers, wallet_id, amount, details=None):
    body = {"wallet_id": wallet_id, "amount": amount,
            "destination": {"type": "bank_account", "account": "DE89370400440532013000"}}
    if details:
        body["details"] = details
    response = api.client.post("/withdrawals", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["id"]


def hand_over(app):
    """One round of the background steps: pending withdrawals reach the manual provider, deliveries go."""
    dispatch.Dispatcher(app.extensions["store"], app.config, app.extensions["dispatch_steps"]).tick()


# Sign-in, the session, sign-out

def test_without_a_session_every_page_sends_you_to_sign_in(client):
    for path in ("/console/", "/console/withdrawals", "/console/deliveries", "/console/search?q=x",
                 "/console/wallets/wal_x", "/console/sign-out"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["Location"] == "/console/sign-in", path
    assert client.post("/console/wallets/wal_x/deposits", data={"amount": "1.00"}).status_code == 401


def test_the_cookie_is_httponly_strict_holds_no_secret_and_is_secure_over_https(app, client, store):
    response = Console(client).sign_in()
    assert response.status_code == 303 and response.headers["Location"] == "/console/"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("console_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie and OPERATOR_TOKEN not in cookie
    [record] = store.collections["console_sessions"].find()
    assert OPERATOR_TOKEN not in repr(record) and record["actor"] == {"type": "platform", "id": "operator"}
    token = cookie.split(";")[0].split("=", 1)[1]
    assert token not in repr(record)  # only its hash: a copy of the collection opens no session
    over_https = Console(app.test_client()).sign_in(base_url="https://localhost")
    assert all("Secure" in c for c in over_https.headers.getlist("Set-Cookie"))


@pytest.mark.parametrize("secret", ["wrong", OPERATOR_TOKEN + "x", "", "client"])
def test_wrong_secrets_and_client_tokens_are_refused_alike(api, client, secret):
    if secret == "client":
        body = api.signup()
        secret = api.login(body["email"])["Authorization"].split(" ", 1)[1]
        assert client.get("/clients/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    response = Console(client).sign_in(secret)
    assert response.status_code == 401
    assert "That secret does not open the console." in response.text
    assert "console_session=" not in " ".join(response.headers.getlist("Set-Cookie"))
    assert client.get("/console/").status_code == 303


def test_sign_in_needs_the_forms_csrf_token(client):
    client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={"secret": OPERATOR_TOKEN, "csrf_token": "forged" * 4})
    assert response.status_code == 403 and "csrf_refused" in response.text
    assert client.get("/console/").status_code == 303


def test_sign_in_is_rate_limited_per_address():
    app = make_app(CONSOLE_SIGN_IN_BURST=3, CONSOLE_SIGN_IN_PER_MINUTE=1)
    console = Console(app.test_client())
    assert [console.sign_in("wrong").status_code for _ in range(3)] == [401, 401, 401]
    limited = console.sign_in(OPERATOR_TOKEN)  # even the right secret waits
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    other = Console(app.test_client()).sign_in(environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 303


def test_sign_out_ends_the_session_on_the_server(client, console, store):
    cookie = client.get_cookie("console_session", path="/console").value
    response, _ = console.submit("/console/sign-out", "/console/sign-out", {})
    assert response.status_code == 303 and response.headers["Location"] == "/console/sign-in"
    assert store.collections["console_sessions"].count_documents({}) == 0
    client.set_cookie("console_session", cookie, path="/console")  # a copy kept from before
    assert client.get("/console/").status_code == 303


def test_a_session_ends_when_its_secret_is_no_longer_the_operator_token(app):
    auth = app.extensions["auth"]
    operator = {"type": "platform", "id": "operator"}
    across = app.extensions["store"]
    assert auth.caller_for_session(across, operator, auth.credential_mark(OPERATOR_TOKEN)).is_operator
    assert auth.caller_for_session(across, operator, auth.credential_mark("an old token")) is None
    client = {"type": "client", "id": "cli_x"}
    assert auth.caller_for_session(across, client, auth.credential_mark(OPERATOR_TOKEN)) is None


# Headers, escaping, refusals as pages

def test_every_console_response_sends_the_csp_and_no_inline_script(api, client, console):
    _, _, wallet_id = api.member(balance="5.00")
    paths = ["/console/", "/console/withdrawals", "/console/deliveries", f"/console/wallets/{wallet_id}",
             "/console/search?q=nobody@example.com", "/console/sign-out", "/console/static/console.css",
             "/console/nope", "/console/wallets/wal_missing"]
    for path in paths:
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp, path
        assert response.headers["X-Frame-Options"] == "DENY", path
        if response.mimetype == "text/html":
            assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path  # no inline script
            assert response.headers["Cache-Control"] == "no-store", path
    assert client.get("/console/sign-in").headers["Content-Security-Policy"]


def test_hostile_details_and_names_show_as_text(api, client, console):
    signed = api.signup(name=HOSTILE)
    headers, wallet_id = api.login(signed["email"]), signed["wallet"]["id"]
    console.submit(f"/console/wallets/{wallet_id}", f"/console/wallets/{wallet_id}/deposits",
                   {"amount": "30.00", "details": HOSTILE})
    withdraw(api, headers, wallet_id, "1.00", details=HOSTILE)
    page = console.page(f"/console/wallets/{wallet_id}").text
    assert HOSTILE not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # the name, the journal, the withdrawal
    found = console.page(f"/console/search?q={signed['email']}").text
    assert HOSTILE not in found and "&lt;script&gt;" in found
    missing = client.get("/console/search", query_string={"q": HOSTILE})
    assert missing.status_code == 404 and HOSTILE not in missing.text


def test_an_unknown_wallet_is_a_404_page(console):
    response = console.client.get("/console/wallets/wal_000000000000000000000000")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "wallet_not_found" in response.text


# Actions

def test_a_deposit_without_the_csrf_token_is_refused_and_moves_nothing(api, client, console):
    _, _, wallet_id = api.member()
    for token in (None, "not-the-token"):
        data = {"amount": "10.00", "idempotency_key": "k" * 20}
        if token:
            data["csrf_token"] = token
        response = client.post(f"/console/wallets/{wallet_id}/deposits", data=data)
        assert response.status_code == 403 and "csrf_refused" in response.text
    assert balance(api, wallet_id) == "0.00"


def test_a_double_submitted_deposit_deposits_once(api, app, client, console):
    _, _, wallet_id = api.member()
    page = f"/console/wallets/{wallet_id}"
    first, data = console.submit(page, f"{page}/deposits", {"amount": "12.34", "details": "top-up"})
    assert first.status_code == 303 and first.headers["Location"].endswith("notice=deposited")
    again = client.post(f"{page}/deposits", data=data)  # the same form, sent twice
    assert again.status_code == 303 and again.headers["Location"].endswith("notice=deposit_replayed")
    assert balance(api, wallet_id) == "12.34"
    shown = console.page(page).text
    assert 'id="wallet-balance">12.34<' in shown and shown.count(">deposit<") == 1
    fresh, _ = console.submit(page, f"{page}/deposits", {"amount": "0.66"})  # a new form, a new key
    assert fresh.status_code == 303 and balance(api, wallet_id) == "13.00"
    check_ledger(app.extensions["store"])


@pytest.mark.parametrize("amount", ["0", "-5", "1.001", "1e3", "", "12,34", "1000000000.01", "１２"])
def test_a_deposit_amount_follows_the_apis_rules(api, console, amount):
    _, _, wallet_id = api.member()
    page = f"/console/wallets/{wallet_id}"
    response, _ = console.submit(page, f"{page}/deposits", {"amount": amount})
    assert response.status_code == 400 and "/amount" in response.text
    assert balance(api, wallet_id) == "0.00"


def test_a_deposit_to_an_unknown_wallet_is_refused(api, console):
    _, _, wallet_id = api.member()
    response, data = console.submit(f"/console/wallets/{wallet_id}", "/console/wallets/wal_nope/deposits",
                                    {"amount": "1.00"})
    assert response.status_code == 404 and "wallet_not_found" in response.text


def test_the_wallet_page_shows_money_limits_and_the_journal_in_pages(api, client, console):
    _, ada, wallet_id = api.member()
    for cents in range(1, 24):
        assert api.deposit(wallet_id, f"0.{cents:02d}").status_code == 201
    first = console.page(f"/console/wallets/{wallet_id}").text
    seqs = [int(s) for s in re.findall(r"<tr><td>(\d+)</td>", first)]
    assert seqs == list(range(23, 3, -1))  # newest first, 20 a page
    older = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = console.page(older).text
    assert [int(s) for s in re.findall(r"<tr><td>(\d+)</td>", second)] == [3, 2, 1]
    assert 'rel="next"' not in second
    assert 'id="wallet-balance">2.76<' in first and 'id="wallet-status">active<' in first
    assert client.get(f"/console/wallets/{wallet_id}?after=garbage").status_code == 400
    assert "No balance monitors." in first
    made = client.post(f"/wallets/{wallet_id}/balance-monitors", headers=api.operator, json={
        "field": "balance", "condition": "lt", "amount": "1.00", "description": "<script>x</script>"})
    assert made.status_code == 201
    page = console.page(f"/console/wallets/{wallet_id}").text
    assert made.json["id"] in page and "balance lt 1.00" in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_limits_are_set_and_removed_through_the_apis_rules(api, client, console):
    _, _, wallet_id = api.member()
    page = f"/console/wallets/{wallet_id}"
    fields = {"max_balance": "100.00", "per_transfer_max": "", "daily_out_amount": "50.5",
              "daily_out_count": "3"}
    response, _ = console.submit(page, f"{page}/limits", fields)
    assert response.status_code == 303
    limits = client.get(f"/wallets/{wallet_id}/limits", headers=api.operator).json["limits"]
    assert limits == {"max_balance": "100.00", "per_transfer_max": None, "daily_out_amount": "50.50",
                      "daily_out_count": 3}
    assert api.deposit(wallet_id, "100.01").json["code"] == "limit_exceeded"
    response, _ = console.submit(page, f"{page}/limits", dict(fields, max_balance="", daily_out_count="x"))
    assert response.status_code == 400 and "/daily_out_count" in response.text
    response, _ = console.submit(page, f"{page}/limits", dict(fields, max_balance=""))
    limits = client.get(f"/wallets/{wallet_id}/limits", headers=api.operator).json["limits"]
    assert limits["max_balance"] is None


def test_manual_withdrawals_are_settled_from_the_queue(app, api, client, console):
    _, sam, wallet_id = api.member(balance="100.00")
    paid, declined = withdraw(api, sam, wallet_id, "25.00"), withdraw(api, sam, wallet_id, "10.00")
    assert "Nothing waits" in console.page("/console/withdrawals").text  # still pending
    hand_over(app)
    queue = console.page("/console/withdrawals").text
    assert paid in queue and declined in queue
    assert 'id="count-manual-withdrawals">2<' in console.page("/console/").text
    response, data = console.submit("/console/withdrawals", f"/console/withdrawals/{paid}/settle",
                                    {"outcome": "succeeded", "provider_reference": "BANK-42"})
    assert response.status_code == 303 and response.headers["Location"].endswith("notice=settled")
    assert client.post(f"/console/withdrawals/{paid}/settle", data=data).headers["Location"].endswith(
        "notice=settle_replayed")
    response, _ = console.submit("/console/withdrawals", f"/console/withdrawals/{declined}/settle",
                                 {"outcome": "failed", "failure_reason": "account_closed"})
    assert response.status_code == 303
    shown = {w: client.get(f"/withdrawals/{w}", headers=api.operator).json for w in (paid, declined)}
    assert (shown[paid]["status"], shown[paid]["provider_reference"]) == ("succeeded", "BANK-42")
    assert (shown[declined]["status"], shown[declined]["failure_reason"]) == ("failed", "account_closed")
    assert api.balance(api.operator, wallet_id) == "75.00"
    assert "Nothing waits" in console.page("/console/withdrawals").text
    # Later the bank sends it back: "returned", from the wallet page.
    wallet_page = f"/console/wallets/{wallet_id}"
    response, _ = console.submit(wallet_page, f"/console/withdrawals/{paid}/settle",
                                 {"outcome": "returned", "from": "wallet"}, key_index=1)
    assert response.status_code == 303 and response.headers["Location"].startswith(wallet_page)
    assert client.get(f"/withdrawals/{paid}", headers=api.operator).json["status"] == "returned"
    assert api.balance(api.operator, wallet_id) == "100.00"
    check_ledger(app.extensions["store"])


def test_a_settle_the_state_machine_refuses_is_a_409_page(app, api, console):
    _, sam, wallet_id = api.member(balance="10.00")
    pending = withdraw(api, sam, wallet_id, "5.00")
    response, _ = console.submit("/console/withdrawals", f"/console/withdrawals/{pending}/settle",
                                 {"outcome": "succeeded", "idempotency_key": "a" * 24})
    assert response.status_code == 409 and "invalid_withdrawal_transition" in response.text
    response, _ = console.submit("/console/withdrawals", f"/console/withdrawals/{pending}/settle",
                                 {"outcome": "paid", "idempotency_key": "b" * 24})
    assert response.status_code == 400 and "/outcome" in response.text


def test_failed_deliveries_are_listed_per_endpoint_and_retried(app, api, client, console):
    endpoint = client.post("/webhook-endpoints", json={"url": "http://127.0.0.1:9/closed"},
                           headers=api.operator).json
    _, _, wallet_id = api.member(balance="1.00")
    hand_over(app)
    listing = f"/webhook-endpoints/{endpoint['id']}/deliveries"
    [delivery] = client.get(listing, headers=api.operator).json["data"]
    assert delivery["status"] == "failed"
    assert 'id="count-failed-deliveries">1<' in console.page("/console/").text
    page = console.page("/console/deliveries").text
    assert "http://127.0.0.1:9/closed" in page and delivery["id"] in page
    response, _ = console.submit("/console/deliveries",
                                 f"/console/deliveries/{endpoint['id']}/{delivery['id']}/retry", {})
    assert response.status_code == 303 and response.headers["Location"].endswith("notice=retried")
    [again] = client.get(listing, headers=api.operator).json["data"]
    assert again["status"] == "pending" and again["next_attempt_at"] is not None
    response, _ = console.submit("/console/deliveries",
                                 f"/console/deliveries/{endpoint['id']}/dlv_nope/retry", {})
    assert response.status_code == 404 and "delivery_not_found" in response.text


def test_find_a_client_by_email_and_anything_by_id(app, api, client, console):
    ada_body, ada, ada_wallet = api.member(balance="50.00")
    _, _, bob_wallet = api.member()
    transfer = api.transfer(ada, ada_wallet, bob_wallet, "5.00").json
    hold = client.post("/holds", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                       "amount": "2.00"}, headers=ada).json
    wd = withdraw(api, ada, ada_wallet, "1.00")
    found = console.page(f"/console/search?q={ada_body['email'].upper()}").text
    assert ada_body["id"] in found and f"/console/wallets/{ada_wallet}" in found
    response = client.get(f"/console/search?q={ada_wallet}")
    assert response.status_code == 303 and response.headers["Location"] == f"/console/wallets/{ada_wallet}"
    for identifier, shown in ((transfer["id"], "5.00"), (hold["id"], "2.00"), (wd, "1.00"),
                              (ada_body["id"], ada_body["email"])):
        page = console.page(f"/console/search?q={identifier}").text
        assert identifier in page and shown in page, identifier
    assert client.get("/console/search?q=tr_000000000000000000000000").status_code == 404
    assert client.get("/console/search?q=nobody@example.com").status_code == 404
    assert console.page("/console/search").status_code == 200


def test_find_a_payment_request_by_id(api, client, console):
    _, ada, ada_wallet = api.member()
    _, bob, bob_wallet = api.member()
    request = client.post("/payment-requests", json={"to_wallet_id": bob_wallet, "from_wallet_id": ada_wallet,
                                                     "amount": "8.50"}, headers=bob).json
    page = console.page(f"/console/search?q={request['id']}").text
    assert "Payment request" in page and "8.50" in page and "pending" in page


def test_the_overview_shows_the_audit_system_accounts_and_holds_expiring_today(app, api, client, console):
    _, ada, ada_wallet = api.member(balance="40.00")
    _, _, bob_wallet = api.member()
    page = console.page("/console/").text
    assert 'id="audit-verdict">ok<' in page and "-40.00" in page
    assert 'id="count-holds-expiring">0<' in page
    left_today_s = (backoffice.end_of_day(ledger.now()) - ledger.now()).total_seconds()
    for expires_in_s in (60, 2 * 24 * 3600):  # today (unless today ends within the minute), in 2 days
        client.post("/holds", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                    "amount": "1.00", "expires_in_s": expires_in_s}, headers=ada)
    expected = 1 if left_today_s > 90 else 0
    assert f'id="count-holds-expiring">{expected}<' in console.page("/console/").text


# Tenant API keys

def key_console(app, tenant, scopes):
    """A fresh browser signed in with a new key of ``tenant`` holding ``scopes``: (console, key)."""
    key = app.test_client().post("/api-keys", json={"name": "console", "scopes": scopes},
                                 headers=tenant.key).json
    signed = Console(app.test_client())
    response = signed.sign_in(key["secret"])
    assert response.status_code == 303, response.text[:300]
    return signed, key, response


@pytest.fixture
def two(app, client):
    """Tenants A and B (tests/api/test_tenants.py), each with a client; A's holds 100.00."""
    a, b = Tenant(client, "A"), Tenant(client, "B")
    for tenant in (a, b):
        tenant.wallet, tenant.headers = tenant.signup("ada@example.com")
    assert client.post(f"/wallets/{a.wallet}/deposits", json={"amount": "100.00"},
                       headers=a.key).status_code == 201
    return a, b


def test_a_key_with_wallets_read_sees_its_tenants_wallets_only(app, two):
    a, b = two
    reader, key, response = key_console(app, a, ["wallets:read"])
    assert response.headers["Location"] == "/console/search"  # no audit:read: no overview
    [record] = [r for r in app.extensions["store"].collections["console_sessions"].find()
                if r["actor"]["id"] == key["id"]]
    assert record["actor"] == {"type": "api_key", "id": key["id"]} and key["secret"] not in repr(record)
    page = reader.page(f"/console/wallets/{a.wallet}").text
    assert 'id="wallet-balance">100.00<' in page
    other = reader.client.get(f"/console/wallets/{b.wallet}")
    assert other.status_code == 404 and "wallet_not_found" in other.text
    assert reader.client.get("/console/search?q=ada@example.com").text.count(a.wallet) >= 1
    assert b.wallet not in reader.client.get("/console/search?q=ada@example.com").text


def test_a_key_without_the_scope_a_page_needs_gets_403(app, client, two):
    a, _ = two
    reader, _, _ = key_console(app, a, ["wallets:read"])
    for path in ("/console/", "/console/withdrawals", "/console/deliveries", "/console/admin-log",
                 f"/console/search?wallet_id={a.wallet}"):
        response = reader.client.get(path)
        assert response.status_code == 403 and "insufficient_scope" in response.text, path
    for action, fields in ((f"/console/wallets/{a.wallet}/deposits", {"amount": "1.00"}),
                           (f"/console/wallets/{a.wallet}/freeze", {"reason": "review"})):
        response, _ = reader.submit(f"/console/wallets/{a.wallet}", action, fields)
        assert response.status_code == 403 and "insufficient_scope" in response.text, action
    assert client.get(f"/wallets/{a.wallet}", headers=a.key).json["balance"] == "100.00"
    assert client.get(f"/wallets/{a.wallet}", headers=a.key).json["status"] == "active"


def test_a_revoked_keys_session_ends(app, client, two):
    a, _ = two
    signed, key, _ = key_console(app, a, ["*"])
    assert signed.page(f"/console/wallets/{a.wallet}")
    assert client.delete(f"/api-keys/{key['id']}", headers=a.key).status_code == 200
    assert signed.client.get(f"/console/wallets/{a.wallet}").headers["Location"] == "/console/sign-in"
    sessions = app.extensions["store"].collections["console_sessions"]
    assert sessions.count_documents({"actor.id": key["id"]}) == 0  # ended for good
    assert signed.sign_in(key["secret"]).status_code == 401


def test_a_suspended_tenants_key_reads_but_posts_no_form(app, client, two):
    a, _ = two
    signed, _, _ = key_console(app, a, ["*"])
    assert client.patch(f"/tenants/{a.id}", json={"status": "suspended"},
                        headers=OPERATOR).status_code == 200
    page = f"/console/wallets/{a.wallet}"
    assert signed.page(page)
    for action, fields in ((f"{page}/deposits", {"amount": "1.00"}), (f"{page}/freeze", {"reason": "x"})):
        response, _ = signed.submit(page, action, fields)
        assert response.status_code == 403 and "tenant_suspended" in response.text, action
    assert client.get(f"/wallets/{a.wallet}", headers=a.key).json["balance"] == "100.00"


# Wallet states

def test_a_wallet_is_frozen_unfrozen_and_closed_with_a_reason(app, api, client, console):
    _, ada, wallet_id = api.member(balance="10.00")
    _, _, bob_wallet = api.member()
    page = f"/console/wallets/{wallet_id}"
    assert 'id="freeze-form"' in console.page(page).text
    response, _ = console.submit(page, f"{page}/freeze", {"reason": ""})
    assert response.status_code == 400 and "/reason" in response.text
    response, _ = console.submit(page, f"{page}/freeze", {"reason": f"under review {HOSTILE}"})
    assert response.status_code == 303 and response.headers["Location"].endswith("notice=frozen")
    shown = console.page(page).text
    assert 'id="wallet-status">frozen<' in shown and HOSTILE not in shown
    assert "under review &lt;script&gt;" in shown and 'id="unfreeze-form"' in shown
    refused = api.transfer(ada, wallet_id, bob_wallet, "1.00")
    assert (refused.status_code, refused.json["code"]) == (422, "wallet_frozen")
    wallet = client.get(f"/wallets/{wallet_id}", headers=api.operator).json
    assert (wallet["status"], wallet["status_reason"]) == ("frozen", f"under review {HOSTILE}")
    # Freezing again is the API's refusal, shown by its title.
    again = client.post(f"{page}/freeze", data={"reason": "x", "csrf_token": CSRF.search(shown).group(1)})
    assert again.status_code == 409 and "The wallet&#39;s state does not allow this change" in again.text
    response, _ = console.submit(page, f"{page}/unfreeze", {})
    assert response.status_code == 303 and 'id="wallet-status">active<' in console.page(page).text
    assert api.transfer(ada, wallet_id, bob_wallet, "1.00").status_code == 201
    response, _ = console.submit(page, f"{page}/close", {"reason": "customer left"})
    assert response.status_code == 409 and "The wallet still holds money or has something pending" \
        in response.text
    response, _ = console.submit(f"/console/wallets/{bob_wallet}", f"/console/wallets/{bob_wallet}/close",
                                 {"reason": "x"})
    assert response.status_code == 409  # bob holds the 1.00
    _, _, empty_wallet = api.member()
    closing = f"/console/wallets/{empty_wallet}"
    response, _ = console.submit(closing, f"{closing}/close", {"reason": "customer left"})
    assert response.status_code == 303 and 'id="wallet-status">closed<' in console.page(closing).text
    assert api.deposit(empty_wallet, "1.00").json["code"] == "wallet_closed"
    check_ledger(app.extensions["store"])


def test_a_state_change_needs_the_csrf_token(api, client, console):
    _, _, wallet_id = api.member()
    response = client.post(f"/console/wallets/{wallet_id}/freeze", data={"reason": "x"})
    assert response.status_code == 403 and "csrf_refused" in response.text
    assert client.get(f"/wallets/{wallet_id}", headers=api.operator).json["status"] == "active"


# Transfer search

def test_transfers_are_found_by_the_apis_filters_a_page_at_a_time(api, client, console):
    _, ada, ada_wallet = api.member(balance="100.00")
    _, _, bob_wallet = api.member()
    for cents in range(1, 24):
        assert api.transfer(ada, ada_wallet, bob_wallet, f"0.{cents:02d}").status_code == 201
    time.sleep(0.002)  # a millisecond after the last at least: newest first is then creation order
    tagged = client.post("/transfers", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                             "amount": "2.50", "metadata": {"order": "A-1"}},
                         headers=ada).json
    first = console.page(f"/console/search?wallet_id={ada_wallet}&type=transfer&min_amount=&meta_key=").text
    ids = re.findall(r"<tr><td>(tr_[0-9a-z]+)</td>", first)
    assert len(ids) == 20 and ids[0] == tagged["id"]
    older = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    rest = re.findall(r"<tr><td>(tr_[0-9a-z]+)</td>", console.page(older).text)
    assert len(rest) == 4 and not set(ids) & set(rest)  # 23 small ones + the tagged one
    by_amount = console.page(f"/console/search?wallet_id={ada_wallet}&min_amount=0.20&max_amount=1.00").text
    assert sorted(re.findall(r'class="amount">(\d+\.\d\d)<', by_amount)) == \
        [f"0.{cents}" for cents in range(20, 24)]
    by_metadata = console.page("/console/search?meta_key=order&meta_value=A-1").text
    assert re.findall(r"<tr><td>(tr_[0-9a-z]+)</td>", by_metadata) == [tagged["id"]]
    deposits = console.page(f"/console/search?type=deposit&wallet_id={ada_wallet}").text
    assert deposits.count("<tr><td>tr_") == 1 and "100.00" in deposits
    bad = client.get("/console/search?min_amount=1.001&created_from=yesterday")
    assert bad.status_code == 400 and "min_amount" in bad.text and "created_from" in bad.text
    assert client.get("/console/search?type=gift").status_code == 400
    missing = client.get("/console/search?wallet_id=wal_000000000000000000000000")
    assert missing.status_code == 404 and "wallet_not_found" in missing.text
    assert client.get("/console/search?after=garbage&type=transfer").status_code == 400


# The admin log

def test_console_actions_land_in_the_admin_log_with_the_console_user_as_actor(app, api, client, console):
    endpoint = client.post("/webhook-endpoints", json={"url": "http://127.0.0.1:9/closed"},
                           headers=api.operator).json
    _, sam, wallet_id = api.member()
    page = f"/console/wallets/{wallet_id}"
    assert console.submit(page, f"{page}/deposits", {"amount": "50.00"})[0].status_code == 303
    withdrawal = withdraw(api, sam, wallet_id, "5.00")
    hand_over(app)
    time.sleep(0.002)  # each action a millisecond after the last at least: the log then lists them in order
    assert console.submit("/console/withdrawals", f"/console/withdrawals/{withdrawal}/settle",
                          {"outcome": "succeeded", "provider_reference": "B-1"})[0].status_code == 303
    [delivery] = [d for d in client.get(f"/webhook-endpoints/{endpoint['id']}/deliveries",
                                        headers=api.operator).json["data"] if d["status"] == "failed"][:1]
    retry = f"/console/deliveries/{endpoint['id']}/{delivery['id']}/retry"
    time.sleep(0.002)
    assert console.submit("/console/deliveries", retry, {})[0].status_code == 303
    time.sleep(0.002)
    assert console.submit(page, f"{page}/freeze", {"reason": "review"})[0].status_code == 303
    log = client.get("/admin-log?limit=100", headers=api.operator).json["data"]
    mine = {(e["action"], e["target"]["id"]): e for e in log}
    for action, target in (("deposit.created", wallet_id), ("withdrawal.settled", withdrawal),
                           ("delivery.retried", delivery["id"]), ("wallet.frozen", wallet_id)):
        entry = mine[(action, target)]
        assert entry["actor"] == {"type": "platform", "id": "operator"}, entry
        assert entry["request_id"], entry
    shown = console.page("/console/admin-log").text
    actions = re.findall(r'class="action">([a-z_.]+)<', shown)
    assert actions[:4] == ["wallet.frozen", "delivery.retried", "withdrawal.settled", "deposit.created"]
    assert "platform:operator" in shown
    assert console.page("/console/admin-log?action=wallet.frozen").text.count('class="action">') == 1
    assert client.get("/console/admin-log?action=nope").status_code == 400


def test_the_admin_log_page_is_the_tenants_and_the_platforms_is_every_tenants(app, client, console, two):
    a, b = two
    signed, key, _ = key_console(app, a, ["*"])
    page = f"/console/wallets/{a.wallet}"
    assert signed.submit(page, f"{page}/deposits", {"amount": "7.00"})[0].status_code == 303
    log = client.get("/admin-log?limit=100", headers=a.key).json["data"]
    deposit = next(e for e in log if e["action"] == "deposit.created" and e["after"]["amount_cents"] == 700)
    assert deposit["actor"] == {"type": "api_key", "id": key["id"]}
    own = signed.page("/console/admin-log").text
    assert f"api_key:{key['id']}" in own and a.id not in own.split("<table")[0]
    assert f'id="adm-{deposit["id"]}"' in own
    for entry in client.get("/admin-log?limit=100", headers=b.key).json["data"]:
        assert f'id="adm-{entry["id"]}"' not in own  # B's stays B's
    everyone = console.page("/console/admin-log").text  # the platform operator's console
    assert f"<td>{a.id}</td>" in everyone and f"<td>{b.id}</td>" in everyone
    # A page at a time: 20, then the rest, never twice.
    for n in range(25):
        signed.submit(page, f"{page}/limits", {"max_balance": f"{1000 + n}.00", "per_transfer_max": "",
                                               "daily_out_amount": "", "daily_out_count": ""})
    first = signed.page("/console/admin-log").text
    ids = re.findall(r'id="adm-(adm_[0-9a-z]+)"', first)
    older = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = re.findall(r'id="adm-(adm_[0-9a-z]+)"', signed.page(older).text)
    assert len(ids) == 20 and second and not set(ids) & set(second)
