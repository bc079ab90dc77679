"""A slow receiver cannot starve anything else (issue 29, finding 1), on both engines.

One client points all 16 of its endpoints at a receiver that trickles its answer and
never finishes; 48 deliveries and their retries keep coming. Another client's
withdrawal must still reach processing and settle, its hold expire, and its
webhooks and e-mail arrive, each within a few seconds.
"""
import time

import pytest

from app.events import dispatch
from app.ledger import webhooks
from tests.conftest import ENGINES, Api, make_app
from tests.receivers import SmtpReceiver, TricklingReceiver, WebhookReceiver

CONFIG = {"WEBHOOK_ALLOW_PRIVATE": True, "RETRY_BASE_S": 0.05, "RETRY_MAX_S": 0.1,
          "DISPATCH_INTERVAL_S": 0.05, "WEBHOOK_TIMEOUT_S": 3.0, "DELIVERY_LEASE_S": 30.0,
          "WITHDRAWAL_PROVIDER": "sandbox", "SANDBOX_SETTLE_S": 1.0,
          "SWEEPER_THREAD": True, "SWEEP_INTERVAL_S": 0.1}
WITHIN_S = 3.0


@pytest.fixture
def smtp():
    receiver = SmtpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(params=ENGINES)
def app(request, smtp):
    app = make_app(request.param, SMTP_URL=smtp.url, **CONFIG)
    yield app
    app.extensions["sweeper"][1].set()
    store = app.extensions["store"]
    if store.engine == "mongodb":
        store._client.drop_database(app.config["MONGO_DB"])
    store.close()


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


@pytest.fixture
def dispatcher(app, slow, fast):
    started = dispatch.Dispatcher(app.extensions["store"], app.config, app.extensions["dispatch_steps"])
    yield started
    slow.close()  # its trickles end, so the attempts in flight end now
    started.stop(timeout_s=10)


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


def test_one_owners_hanging_endpoints_leave_another_owners_payout_on_time(app, smtp, slow, fast, dispatcher):
    api = Api(app.test_client())
    _, mallory, mallory_wallet = api.member()
    for index in range(webhooks.MAX_ENDPOINTS):
        register(api, mallory, f"{slow.url}/{index}")
    for _ in range(3):
        assert api.deposit(mallory_wallet, "1.00").status_code == 201  # 3 events x 16 endpoints
    bob_body, bob, bob_wallet = api.member(balance="50.00")
    fast.secret = register(api, bob, fast.url)["secret"]
    dispatcher.start()
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
    late = [name for name, seconds in seen.items() if seconds is None]
    assert not late, f"not within {WITHIN_S} s: {late} ({seen})"
    assert 1 <= slow.max_in_flight <= app.config["DELIVERY_WORKERS_PER_OWNER"]
