"""Events: the outbox, the feed, signed webhooks with retries, leases, e-mail (real receivers)."""
import json
import pathlib
import threading
import time
from datetime import timedelta

import pytest

from app import ledger
from app.events import dispatch
from app.events import outbound
from app.ledger import events
from tests.conftest import Api, make_app
from tests.support.receivers import SmtpReceiver, WebhookReceiver

FAST = {"WEBHOOK_ALLOW_PRIVATE": True, "RETRY_BASE_S": 0.05, "RETRY_MAX_S": 0.1,
        "DISPATCH_INTERVAL_S": 0.02, "DELIVERY_LEASE_S": 5.0, "WEBHOOK_TIMEOUT_S": 5.0}


@pytest.fixture
def app():
    return make_app(**FAST)


@pytest.fixture
def receivers():
    made = []

    def make(*args, **kwargs):
        made.append(WebhookReceiver(*args, **kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def dispatchers(app):
    made = []

    def make(**config):
        made.append(dispatch.Dispatcher(app.extensions["store"].tenant("default"), dict(app.config, **config),
                                        app.extensions["dispatch_steps"]))
        return made[-1]

    yield make
    for dispatcher in made:
        dispatcher.stop(timeout_s=10)


def register(client, headers, receiver, events_wanted=("*",)):
    response = client.post("/webhook-endpoints", json={"url": receiver.url, "events": list(events_wanted)},
                           headers=headers)
    assert response.status_code == 201, response.json
    receiver.secret = response.json["secret"]
    return response.json


def settled(client, headers, endpoint, count=1, timeout_s=10):
    """The delivery log once ``count`` deliveries are no longer pending or in flight."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = deliveries(client, headers, endpoint)
        if len(log) >= count and all(d["status"] in ("delivered", "failed") for d in log):
            return log
        time.sleep(0.01)
    raise AssertionError(f"not settled: {deliveries(client, headers, endpoint)}")


def deliveries(client, headers, endpoint):
    response = client.get(f"/webhook-endpoints/{endpoint['id']}/deliveries", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["data"]


def test_an_event_exists_exactly_for_the_units_that_committed(app, api, monkeypatch):
    store = app.extensions["store"].tenant("default")
    _, ada, ada_wallet = api.member(balance="10.00")
    _, _, bob_wallet = api.member()
    assert api.transfer(ada, ada_wallet, bob_wallet, "99.00").status_code == 422  # refused: no event
    emit = events.emit

    def emit_then_fail(*args, **kwargs):
        emit(*args, **kwargs)
        raise RuntimeError("forced failure after the event was written")

    monkeypatch.setattr(events, "emit", emit_then_fail)
    client_id = store.collections["wallets"].find_one({"_id": ada_wallet})["client_id"]
    with pytest.raises(RuntimeError):
        ledger.transfer(store, client_id, ada_wallet, bob_wallet, 100)
    monkeypatch.setattr(events, "emit", emit)
    assert api.transfer(ada, ada_wallet, bob_wallet, "1.00").status_code == 201
    found = [(e["type"], e["data"].get("amount")) for e in store.collections["events"].find()]
    assert sorted(found) == [("deposit.posted", "10.00"), ("transfer.posted", "1.00")]
    assert api.balance(ada, ada_wallet) == "9.00"


def test_the_feed_pages_oldest_first_and_shows_a_client_only_its_wallet(client, api):
    _, ada, ada_wallet = api.member(balance="5.00")
    _, bob, bob_wallet = api.member(balance="7.00")
    time.sleep(0.002)  # a millisecond after Bob's deposit at least: the feed is then creation order
    api.transfer(ada, ada_wallet, bob_wallet, "1.00")
    seen, after = [], None
    while True:
        page = client.get("/events?limit=1" + (f"&after={after}" if after else ""), headers=api.operator).json
        seen += page["data"]
        after = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [e["type"] for e in seen] == ["deposit.posted", "deposit.posted", "transfer.posted"]
    assert [e["created_at"] for e in seen] == sorted(e["created_at"] for e in seen)
    assert client.get(f"/events?after={after}", headers=api.operator).json["data"] == []
    mine = client.get("/events", headers=ada).json["data"]
    assert [e["data"]["amount"] for e in mine] == ["5.00", "1.00"]
    assert all(ada_wallet in e["wallet_ids"] for e in mine)
    only = client.get("/events?type=transfer.posted", headers=bob).json["data"]
    assert [e["type"] for e in only] == ["transfer.posted"]


def test_the_feed_holds_events_back_for_the_settle_window():
    app = make_app(EVENTS_SETTLE_MS=400)
    api = Api(app.test_client())
    api.member(balance="5.00")
    assert api.client.get("/events", headers=api.operator).json["data"] == []
    time.sleep(0.5)
    assert len(api.client.get("/events", headers=api.operator).json["data"]) == 1


def test_a_signed_webhook_fails_twice_then_is_delivered_and_logged(client, api, receivers, dispatchers):
    receiver = receivers(answers=[500, 503])
    _, ada, ada_wallet = api.member()
    endpoint = register(client, ada, receiver)
    api.member(balance="3.00")  # another client's deposit: not ada's, never sent to her
    api.deposit(ada_wallet, "12.34")
    dispatchers().start()
    log = settled(client, ada, endpoint)
    assert len(log) == 1 and log[0]["status"] == "delivered"
    assert [a["status_code"] for a in log[0]["attempts"]] == [500, 503, 200]
    assert log[0]["attempt_count"] == 3 and log[0]["next_attempt_at"] is None
    ids = {message_id for message_id, _, _ in receiver.requests}
    assert ids == {log[0]["event_id"]}  # one webhook-id for every attempt: receivers dedupe by it
    assert all(payload is not None for _, payload, _ in receiver.requests)  # every signature verified
    feed = client.get("/events", headers=ada).json["data"]
    assert receiver.requests[-1][1] == feed[0] and feed[0]["data"]["amount"] == "12.34"


def test_a_wrong_secret_does_not_verify(client, api, receivers, dispatchers):
    receiver = receivers()
    _, ada, ada_wallet = api.member()
    endpoint = register(client, ada, receiver)
    receiver.secret = outbound.new_secret()
    api.deposit(ada_wallet, "1.00")
    dispatchers().tick()
    assert [status for _, _, status in receiver.requests] == [401]
    assert deliveries(client, ada, endpoint)[0]["status"] == "pending"


def test_a_dispatcher_killed_mid_delivery_loses_nothing(client, api, receivers, dispatchers):
    hold = threading.Event()
    receiver = receivers(hold=hold)
    endpoint = register(client, api.operator, receiver)
    api.member(balance="2.00")
    dying = dispatchers(DELIVERY_LEASE_S=0.3).start()
    assert receiver.first_arrived.wait(5)
    dying._stop.set()  # it never ticks again; its send is still in flight, as if the process died
    time.sleep(0.4)  # its lease lapses
    dispatchers().start()
    assert receiver.wait_for(lambda seen: len(seen) == 1 and seen[0][2] == 200)
    hold.set()  # the dead dispatcher's request finally returns: its result must not be recorded
    dying.stop(timeout_s=10)
    log = settled(client, api.operator, endpoint)
    assert log[0]["status"] == "delivered"
    assert [a["status_code"] for a in log[0]["attempts"]] == [200]  # acknowledged once
    assert len(receiver.requests) == 2 and len({m for m, _, _ in receiver.requests}) == 1


def test_two_dispatchers_never_send_one_delivery_at_once(client, api, receivers, dispatchers):
    receiver = receivers(delay_s=0.02)
    endpoint = register(client, api.operator, receiver)
    _, _, wallet = api.member()
    for _ in range(12):
        api.deposit(wallet, "1.00")
    for _ in range(2):
        dispatchers().start()
    settled(client, api.operator, endpoint, count=12)
    ids = [message_id for message_id, _, _ in receiver.requests]
    assert len(ids) == len(set(ids)) == 12
    assert set(receiver.max_in_flight.values()) == {1}
    assert {d["status"] for d in deliveries(client, api.operator, endpoint)} == {"delivered"}
    assert all(d["attempt_count"] == 1 for d in deliveries(client, api.operator, endpoint))


def test_retries_last_three_days_then_fail_and_five_failing_days_disable(app, client, api, dispatchers):
    _, ada, ada_wallet = api.member()
    endpoint = client.post("/webhook-endpoints", json={"url": "http://127.0.0.1:9/closed"},
                           headers=ada).json
    api.deposit(ada_wallet, "1.00")
    dispatcher = dispatchers(RETRY_BASE_S=30.0, RETRY_MAX_S=6 * 3600.0)
    start = ledger.now()
    dispatcher.clock = lambda: start
    dispatcher.tick()
    [first] = app.extensions["store"].tenant("default").collections["deliveries"].find()
    assert first["status"] == "pending" and first["attempts"][0]["status_code"] is None
    assert timedelta(seconds=15) <= first["next_attempt_at"] - start <= timedelta(seconds=30)
    dispatcher.clock = lambda: start + timedelta(days=3, seconds=1)
    dispatcher.tick()
    assert deliveries(client, ada, endpoint)[0]["status"] == "failed"
    assert client.get(f"/webhook-endpoints/{endpoint['id']}", headers=ada).json["status"] == "enabled"
    api.deposit(ada_wallet, "1.00")
    dispatcher.clock = lambda: start + timedelta(days=5, seconds=1)
    dispatcher.tick()
    assert client.get(f"/webhook-endpoints/{endpoint['id']}", headers=ada).json["status"] == "disabled"


def test_the_client_gets_an_email_for_money_in_and_out():
    smtp = SmtpReceiver()
    try:
        app = make_app(SMTP_URL=smtp.url, **FAST)
        api = Api(app.test_client())
        ada_body, ada, ada_wallet = api.member(balance="50.00")
        bob_body, _, bob_wallet = api.member()
        api.transfer(ada, ada_wallet, bob_wallet, "12.34")
        dispatch.Dispatcher(app.extensions["store"].tenant("default"), app.config).tick()
        deadline = time.monotonic() + 5
        while len(smtp.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        smtp.close()
    by_recipient = {}
    for recipients, text in smtp.messages:
        by_recipient.setdefault(recipients[0], []).append(text)
    assert len(by_recipient[ada_body["email"]]) == 2 and len(by_recipient[bob_body["email"]]) == 1
    [money_out] = [t for t in by_recipient[ada_body["email"]] if "Money out" in t]
    assert "12.34 USD, to " + bob_wallet in money_out and "Balance after: 37.66 USD" in money_out
    [money_in] = by_recipient[bob_body["email"]]
    assert "from " + ada_wallet in money_in and "Balance after: 12.34 USD" in money_in
    for _, text in smtp.messages:
        assert "password" not in text.lower() and "whsec_" not in text and "Bearer" not in text


@pytest.mark.parametrize("url", ["https://127.0.0.1/x", "https://10.1.2.3/x", "https://169.254.169.254/x",
                                 "https://224.0.0.1/x", "https://[::1]/x", "https://0.0.0.0/x",
                                 "http://93.184.215.14/x", "https://user:pw@93.184.215.14/x"])
def test_the_outbound_guard_refuses_private_and_plain_urls(url):
    with pytest.raises(outbound.UrlNotAllowed):
        outbound.check_url(url)


def test_the_guard_passes_public_https_and_is_lifted_for_development():
    assert str(outbound.check_url("https://93.184.215.14/hook")[1]) == "93.184.215.14"
    assert str(outbound.check_url("http://127.0.0.1:8080/hook", allow_private=True)[1]) == "127.0.0.1"


def test_the_guard_is_checked_again_at_each_delivery(app, client, api, receivers, dispatchers):
    receiver = receivers()
    endpoint = register(client, api.operator, receiver)
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    api.member(balance="1.00")
    dispatchers().tick()
    assert receiver.requests == []
    assert "loopback" in deliveries(client, api.operator, endpoint)[0]["attempts"][0]["error"] or \
        "https" in deliveries(client, api.operator, endpoint)[0]["attempts"][0]["error"]


def test_a_registered_step_runs_every_tick(app, dispatchers):
    ticks = []
    app.extensions["dispatch_steps"].append(lambda dispatcher, moment: ticks.append(moment) or 0)
    dispatcher = dispatchers()
    dispatcher.tick()
    dispatcher.tick()
    assert len(ticks) == 2


def test_nobody_reads_another_callers_endpoint_and_the_secret_is_shown_once(client, api, receivers):
    receiver = receivers()
    _, ada, _ = api.member()
    _, bob, _ = api.member()
    endpoint = register(client, ada, receiver)
    for path in (f"/webhook-endpoints/{endpoint['id']}", f"/webhook-endpoints/{endpoint['id']}/deliveries"):
        assert client.get(path, headers=bob).status_code == 404
        assert client.get(path, headers=api.operator).status_code == 404
    assert client.delete(f"/webhook-endpoints/{endpoint['id']}", headers=bob).status_code == 404
    shown = client.get(f"/webhook-endpoints/{endpoint['id']}", headers=ada).json
    assert "secret" not in shown and endpoint["secret"] not in json.dumps(
        client.get("/webhook-endpoints", headers=ada).json)


def test_the_dispatch_command_refuses_the_embedded_engine(app):
    result = app.test_cli_runner().invoke(args=["events", "dispatch"])
    assert result.exit_code != 0 and "make run" in result.output


def test_make_run_starts_the_dispatcher_thread_on_the_embedded_engine():
    app = make_app(EVENTS_DISPATCHER_THREAD=True, DISPATCH_INTERVAL_S=0.01)
    dispatcher = app.extensions["dispatcher"]
    try:
        assert dispatcher.running()
        Api(app.test_client()).member(balance="1.00")
        deadline = time.monotonic() + 5
        events = app.extensions["store"].tenant("default").collections["events"]
        while events.find_one({"pending_fanout": True}):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        dispatcher.stop(timeout_s=5)
    makefile = pathlib.Path("Makefile").read_text()
    assert "$(if $(MONGO_URI),,SWEEPER_THREAD=1 EVENTS_DISPATCHER_THREAD=1)" in makefile
