"""A slow receiver cannot starve anything else (issue 29, finding 1): on both engines, and in
the gevent server `make run` starts.

One client points all 16 of its endpoints at a receiver that trickles its answer and
never finishes; 48 deliveries and their retries keep coming. Another client's
withdrawal must still reach processing and settle, its hold expire, and its
webhooks and e-mail arrive, each within a few seconds.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from app.events import dispatch, lanes
from app.ledger import webhooks
from tests.conftest import ENGINES, ON_STANDIN, OPERATOR_TOKEN, Api, make_app
from tests.support.receivers import SmtpReceiver, TricklingReceiver, WebhookReceiver
from tests.api.test_edge import ROOT, _free_port, _health_ok

CONFIG = {"WEBHOOK_ALLOW_PRIVATE": True, "RETRY_BASE_S": 0.05, "RETRY_MAX_S": 0.1,
          "DISPATCH_INTERVAL_S": 0.05, "WEBHOOK_TIMEOUT_S": 3.0, "DELIVERY_LEASE_S": 30.0,
          "WITHDRAWAL_PROVIDER": "sandbox", "SANDBOX_SETTLE_S": 1.0,
          "SWEEPER_THREAD": True, "SWEEP_INTERVAL_S": 0.1}
WITHIN_S = 3.0
PER_OWNER = 4  # DELIVERY_WORKERS_PER_OWNER's default


@pytest.fixture
def smtp():
    receiver = SmtpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def slow():
    receiver = TricklingReceiver(gap_s=0.5)
    yield receiver
    receiver.close()


@pytest.fixture
def fast():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(params=ENGINES)
def app(request, smtp):
    app = make_app(request.param, SMTP_URL=smtp.url, **CONFIG)
    yield app
    app.extensions["sweeper"][1].set()
    store = app.extensions["storage"]
    if store.engine == "mongodb":
        store._client.drop_database(app.config["MONGO_DB"])
    store.close()


@pytest.fixture
def dispatcher(app, slow):
    started = dispatch.Dispatcher(app.extensions["store"].tenant(
        "default"), app.config, app.extensions["dispatch_steps"])
    yield started
    slow.close()  # its trickles end, so the attempts in flight end now
    started.stop(timeout_s=10)


@pytest.fixture
def server(smtp, slow):
    """gunicorn as `make run` starts it (dispatcher and sweeper are greenlets in it): its port."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "SECRET_KEY")}
    env.update({name: "1" if value is True else str(value) for name, value in CONFIG.items()})
    env.update(HOST="127.0.0.1", PORT=str(port), OPERATOR_TOKEN=OPERATOR_TOKEN, SMTP_URL=smtp.url,
               EVENTS_DISPATCHER_THREAD="1", PASSWORD_HASH_METHOD="scrypt:1024:8:1",
               WEBHOOK_ALLOWED_PORTS="1-65535")  # the receivers listen on ports the OS picks
    process = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "gunicorn"),
                                "--config", "gunicorn.conf.py", "app:create_app()"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not _health_ok(port):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        yield port
    finally:
        slow.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


class HttpClient:
    """The few calls of Flask's test client that ``Api`` makes, over real HTTP."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def open(self, method, path, json_body=None, headers=None):
        data = None if json_body is None else json.dumps(json_body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=dict(
            headers or {}, **({"Content-Type": "application/json"} if data else {})))
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as refusal:
            status, body = refusal.code, refusal.read()
        return SimpleNamespace(status_code=status, json=json.loads(body) if body else None)

    def get(self, path, headers=None):
        return self.open("GET", path, headers=headers)

    def post(self, path, json=None, headers=None):
        return self.open("POST", path, json, headers)


def register(api, headers, url):
    response = api.client.post("/webhook-endpoints", json={"url": url}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def times_until(checks, began, within_s):
    """{name: seconds from ``began`` until its check first held, or None}, polled for ``within_s``."""
    seen = dict.fromkeys(checks)
    while time.monotonic() - began < within_s and None in seen.values():
        for name, check in checks.items():
            if seen[name] is None and check():
                seen[name] = round(time.monotonic() - began, 3)
        time.sleep(0.02)
    return seen


def stalled_owner_and_payout(api, smtp, slow, fast, start_dispatcher=lambda: None):
    """Mallory's 16 trickling endpoints busy, then Bob pays out: {what Bob awaits: seconds, or None}."""
    _, mallory, mallory_wallet = api.member()
    for index in range(webhooks.MAX_ENDPOINTS):
        register(api, mallory, f"{slow.url}/{index}")
    for _ in range(3):
        assert api.deposit(mallory_wallet, "1.00").status_code == 201  # 3 events x 16 endpoints
    bob_body, bob, bob_wallet = api.member(balance="50.00")
    fast.secret = register(api, bob, fast.url)["secret"]
    start_dispatcher()
    assert slow.wait_for_arrivals(1), "the dispatcher never reached the slow receiver"

    began = time.monotonic()
    withdrawal = api.client.post("/withdrawals", json={
        "wallet_id": bob_wallet, "amount": "10.00",
        "destination": {"type": "bank_account", "account": "DE89370400440532013000"}}, headers=bob)
    assert withdrawal.status_code == 201, withdrawal.json
    hold = api.client.post("/holds", json={"from_wallet_id": bob_wallet, "to_wallet_id": mallory_wallet,
                                           "amount": "1.00", "expires_in_s": 1}, headers=bob)
    assert hold.status_code == 201, hold.json

    def status():
        return api.client.get(f"/withdrawals/{withdrawal.json['id']}", headers=bob).json["status"]

    def delivered(event_type):
        return lambda: any(payload and payload["type"] == event_type and answered == 200
                           for _, payload, answered in list(fast.requests))

    def mailed_out():
        return any(bob_body["email"] in to and "Money out" in text for to, text in list(smtp.messages))

    seen = times_until({"processing": lambda: status() != "pending",
                        "withdrawal.processing delivered": delivered("withdrawal.processing"),
                        "succeeded": lambda: status() == "succeeded",  # the sandbox settles after 1 s
                        "hold.expired delivered": delivered("hold.expired"),  # it expires after 1 s
                        "money-out e-mail": mailed_out},
                       began, WITHIN_S)
    print(f"\nseconds after the withdrawal: {seen}; the slow receiver: {slow.arrivals} requests, "
          f"at most {slow.max_in_flight} at once")
    return seen


def late(seen):
    return [name for name, seconds in seen.items() if seconds is None]


def test_one_owners_hanging_endpoints_leave_another_owners_payout_on_time(app, smtp, slow, fast, dispatcher):
    if ON_STANDIN and app.extensions["storage"].engine == "mongodb":
        # Fails with the branch-point stand-in too: there every commit conflicts with every open
        # transaction, so the dispatcher's, sweeper's and withdrawal steps' units retry into
        # each other and miss the 3 s window in most runs; MongoDB's conflicts are per document.
        pytest.skip("needs a real replica set: per-document write conflicts: a payout's steps and "
                    "events within 3 s while another owner's 16 endpoints hang (timing)")
    seen = stalled_owner_and_payout(Api(app.test_client()), smtp, slow, fast, dispatcher.start)
    assert not late(seen), f"not within {WITHIN_S} s: {late(seen)} ({seen})"
    assert 1 <= slow.max_in_flight <= app.config["DELIVERY_WORKERS_PER_OWNER"]


def test_in_the_gevent_server_too(server, smtp, slow, fast):
    seen = stalled_owner_and_payout(Api(HttpClient(server)), smtp, slow, fast)
    assert not late(seen), f"not within {WITHIN_S} s: {late(seen)} ({seen})"
    assert 1 <= slow.max_in_flight <= PER_OWNER


def test_a_free_slot_goes_to_the_least_busy_owner_one_attempt_per_endpoint():
    due = [{"_id": name, "owner": name[0], "endpoint_id": endpoint}
           for name, endpoint in [("a1", "ea"), ("a2", "ea"), ("a3", "eb"), ("b1", "ec"), ("b2", "ed"),
                                  ("a4", "ef")]]
    claimed, release = [], threading.Event()

    def claim(skipped_owners, busy_endpoints):
        """As the database's claim: the first due delivery not passed over."""
        for delivery in due:
            if delivery["owner"] not in skipped_owners and delivery["endpoint_id"] not in busy_endpoints:
                due.remove(delivery)
                claimed.append(delivery["_id"])
                return delivery
        return None

    lane = lanes.Lane("test", claim, lambda delivery: release.wait(5), workers=4, per_owner=2)
    assert lane.fill() == 4
    # a1 first; then b, who has none in flight; a2 waits for its endpoint; a's second (a3)
    # only once b has one; then b's second, and the pool is full.
    assert claimed == ["a1", "b1", "a3", "b2"]
    release.set()
    assert lane.idle(5)
    assert lane.fill() == 2 and claimed[4:] == ["a2", "a4"]  # a's share is 2: a2 and a4 together
    assert lane.idle(5)


@pytest.mark.parametrize("setting", ["DELIVERY_WORKERS", "DELIVERY_WORKERS_PER_OWNER"])
def test_a_pool_of_no_slot_refuses_to_start(setting):
    with pytest.raises(RuntimeError, match=f"{setting} is 0"):
        make_app(**{setting: 0})
