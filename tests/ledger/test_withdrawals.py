"""Withdrawals: held at once, handed to the provider outside any unit, settled exactly once."""
import threading
from datetime import timedelta

import pytest

from app import errors, ledger
from app.events import dispatch
from app.ledger import providers, units, withdrawals
from tests.conftest import OPERATOR_TOKEN, Api, check_ledger, make_app

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def withdraw(api, headers, wallet_id, amount, account="DE89370400440532013000", **extra):
    body = {"wallet_id": wallet_id, "amount": amount,
            "destination": {"type": "bank_account", "account": account}}
    return api.client.post("/withdrawals", json=body, headers=dict(headers, **extra))


def wallet(api, wallet_id):
    body = api.client.get(f"/wallets/{wallet_id}", headers=OPERATOR).json
    return body["balance"], body["held"], body["available"]


def journal(api, wallet_id):
    data = api.client.get(f"/wallets/{wallet_id}/operations", headers=OPERATOR).json["data"]
    return [(entry["type"], entry["amount"]) for entry in reversed(data)]


def events(store, withdrawal_id):
    return [e["type"] for e in store.collections["events"].find({"data.id": withdrawal_id})]


def payouts(api):
    accounts = api.client.get("/system-accounts", headers=OPERATOR).json["data"]
    return next(a["balance"] for a in accounts if a["name"] == "payouts")


def sweep_at(app, seconds):
    """Run the payout steps as of ``seconds`` from now (a clock the test controls)."""
    moment = units.now() + timedelta(seconds=seconds)
    return {name: step(app.extensions["store"].tenant("default"), moment, 10)
            for name, step in app.extensions["withdrawal_steps"].items()}


@pytest.fixture(params=["sandbox", "manual"])
def seller(request):
    """Sam (100.00) on an app whose withdrawals go to the sandbox or to the operator."""
    app = make_app(WITHDRAWAL_PROVIDER=request.param)
    api = Api(app.test_client())
    _, sam, sam_wallet = api.member(balance="100.00")
    return app, api, sam, sam_wallet


@pytest.fixture
def sandbox():
    app = make_app(SANDBOX_SETTLE_S=2, SANDBOX_RETURN_S=3)
    api = Api(app.test_client())
    _, sam, sam_wallet = api.member(balance="100.00")
    return app, api, sam, sam_wallet


def test_a_withdrawal_is_held_at_once(seller):
    app, api, sam, sam_wallet = seller
    response = withdraw(api, sam, sam_wallet, "30.00")
    assert response.status_code == 201
    body = response.json
    assert body["id"].startswith("wd_") and body["created_at"] == body["updated_at"]
    assert {k: body[k] for k in ("wallet_id", "amount", "status", "provider", "provider_reference",
                                 "failure_reason", "destination")} == {
        "wallet_id": sam_wallet, "amount": "30.00", "status": "pending",
        "provider": app.config["WITHDRAWAL_PROVIDER"], "provider_reference": None,
        "failure_reason": None, "destination": {"type": "bank_account", "account": "DE89370400440532013000"}}
    assert wallet(api, sam_wallet) == ("100.00", "30.00", "70.00")
    assert events(app.extensions["store"].tenant("default"), body["id"]) == ["withdrawal.created"]
    check_ledger(app.extensions["store"].tenant("default"))


@pytest.mark.parametrize("change, code", [
    ({"amount": "100.01"}, (422, "insufficient_funds")),
    ({"wallet_id": "wal_nope"}, (404, "wallet_not_found")),
    ({"wallet_id": "other"}, (404, "wallet_not_found")),
    ({"amount": "0.00"}, (400, "validation_failed")),
    ({"destination": {"type": "iban", "account": "x"}}, (400, "validation_failed")),
    ({"destination": {"type": "bank_account", "account": ""}}, (400, "validation_failed")),
    ({"destination": {"type": "bank_account", "account": "x" * 65}}, (400, "validation_failed")),
    ({"destination": {"type": "bank_account", "account": "ab\ncd"}}, (400, "validation_failed")),
    ({"destination": {"type": "bank_account"}}, (400, "validation_failed")),
    ({"details": "a\u0000b"}, (400, "validation_failed")),
])
def test_refused_withdrawals_change_nothing(seller, change, code):
    app, api, sam, sam_wallet = seller
    _, _, other_wallet = api.member(balance="5.00")
    body = {"wallet_id": sam_wallet, "amount": "10.00",
            "destination": {"type": "bank_account", "account": "acct"}}
    body.update(change)
    body["wallet_id"] = {"other": other_wallet}.get(body["wallet_id"], body["wallet_id"])
    response = api.client.post("/withdrawals", json=body, headers=sam)
    assert (response.status_code, response.json["code"]) == code
    assert wallet(api, sam_wallet) == ("100.00", "0.00", "100.00")
    assert app.extensions["store"].tenant("default").collections["withdrawals"].count_documents({}) == 0


def test_the_operator_cannot_withdraw_and_a_retry_never_flips(seller):
    app, api, sam, sam_wallet = seller
    assert withdraw(api, OPERATOR, sam_wallet, "1.00").status_code == 403
    key = {"Idempotency-Key": "payout-1"}
    first = withdraw(api, sam, sam_wallet, "60.00", **key)
    again = withdraw(api, sam, sam_wallet, "60.00", **key)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    refused = withdraw(api, sam, sam_wallet, "60.00", **{"Idempotency-Key": "payout-2"})
    assert refused.json["code"] == "insufficient_funds"
    api.deposit(sam_wallet, "100.00")
    replay = withdraw(api, sam, sam_wallet, "60.00", **{"Idempotency-Key": "payout-2"})
    assert (replay.status_code, replay.json["code"]) == (422, "insufficient_funds")  # recorded
    assert wallet(api, sam_wallet) == ("200.00", "60.00", "140.00")


def test_sandbox_success_end_to_end(sandbox):
    app, api, sam, sam_wallet = sandbox
    wd = withdraw(api, sam, sam_wallet, "30.00").json
    url = f"/withdrawals/{wd['id']}"
    assert sweep_at(app, 0)["withdrawals_submitted"] == 1
    processing = api.client.get(url, headers=sam).json
    assert (processing["status"], processing["provider_reference"]) == ("processing", "sbx_" + wd["id"][3:])
    assert sweep_at(app, 1)["withdrawals_settled"] == 0  # not yet: the sandbox takes 2 s
    assert api.client.get(url, headers=sam).json["status"] == "processing"
    assert sweep_at(app, 2.5)["withdrawals_settled"] == 1
    assert api.client.get(url, headers=sam).json["status"] == "succeeded"
    assert wallet(api, sam_wallet) == ("70.00", "0.00", "70.00")
    assert journal(api, sam_wallet) == [("deposit", "100.00"), ("withdrawal", "-30.00")]
    assert payouts(api) == "30.00"
    assert events(app.extensions["store"].tenant("default"), wd["id"]) == [
        "withdrawal.created", "withdrawal.processing", "withdrawal.succeeded"]
    succeeded = app.extensions["store"].tenant("default").collections["events"].find_one({
        "type": "withdrawal.succeeded"})
    assert (succeeded["data"]["transfer"]["type"], succeeded["data"]["transfer"]["amount"]) == (
        "withdrawal", "30.00")
    assert sweep_at(app, 60) == {"withdrawals_submitted": 0, "withdrawals_settled": 0}
    check_ledger(app.extensions["store"].tenant("default"))


def test_sandbox_failure_releases_the_money(sandbox):
    app, api, sam, sam_wallet = sandbox
    wd = withdraw(api, sam, sam_wallet, "30.00", account="fail-0001").json
    sweep_at(app, 0)
    sweep_at(app, 3)
    body = api.client.get(f"/withdrawals/{wd['id']}", headers=sam).json
    assert (body["status"], body["failure_reason"]) == ("failed", "sandbox_declined")
    assert wallet(api, sam_wallet) == ("100.00", "0.00", "100.00")
    assert journal(api, sam_wallet) == [("deposit", "100.00")]
    assert payouts(api) == "0.00"
    assert events(app.extensions["store"].tenant("default"), wd["id"]) == [
        "withdrawal.created", "withdrawal.processing", "withdrawal.failed"]
    check_ledger(app.extensions["store"].tenant("default"))


def test_sandbox_return_comes_back_as_its_own_entry(sandbox):
    app, api, sam, sam_wallet = sandbox
    wd = withdraw(api, sam, sam_wallet, "30.00", account="return-0001").json
    sweep_at(app, 0)
    sweep_at(app, 2)
    assert api.client.get(f"/withdrawals/{wd['id']}", headers=sam).json["status"] == "succeeded"
    assert payouts(api) == "30.00"
    assert sweep_at(app, 4)["withdrawals_settled"] == 0  # returned 3 s after it succeeded
    assert sweep_at(app, 5.5)["withdrawals_settled"] == 1
    assert api.client.get(f"/withdrawals/{wd['id']}", headers=sam).json["status"] == "returned"
    assert wallet(api, sam_wallet) == ("100.00", "0.00", "100.00")
    assert journal(api, sam_wallet) == [("deposit", "100.00"), ("withdrawal", "-30.00"),
                                        ("withdrawal_return", "30.00")]
    assert payouts(api) == "0.00"
    assert events(app.extensions["store"].tenant("default"), wd["id"]) == [
        "withdrawal.created", "withdrawal.processing", "withdrawal.succeeded", "withdrawal.returned"]
    assert sweep_at(app, 60)["withdrawals_settled"] == 0
    check_ledger(app.extensions["store"].tenant("default"))


@pytest.fixture
def manual():
    app = make_app(WITHDRAWAL_PROVIDER="manual")
    api = Api(app.test_client())
    _, sam, sam_wallet = api.member(balance="100.00")
    return app, api, sam, sam_wallet


def settle(api, withdrawal_id, outcome, **extra):
    body = dict({"outcome": outcome}, **{k: v for k, v in extra.items() if k != "key"})
    headers = dict(OPERATOR, **({"Idempotency-Key": extra["key"]} if "key" in extra else {}))
    return api.client.post(f"/withdrawals/{withdrawal_id}/settle", json=body, headers=headers)


def test_manual_settle_walks_the_state_machine(manual):
    app, api, sam, sam_wallet = manual
    wd = withdraw(api, sam, sam_wallet, "40.00").json["id"]
    assert settle(api, wd, "succeeded").json["code"] == "invalid_withdrawal_transition"  # pending
    sweep_at(app, 0)
    assert sweep_at(app, 3600)["withdrawals_settled"] == 0  # manual: an unknown outcome waits
    assert api.client.get(f"/withdrawals/{wd}", headers=sam).json["provider_reference"] == "man_" + wd[3:]
    assert settle(api, wd, "returned").status_code == 409
    done = settle(api, wd, "succeeded", provider_reference="BANK-77", key="s-1")
    assert (done.status_code, done.json["status"], done.json["provider_reference"]) == (
        200, "succeeded", "BANK-77")
    assert settle(api, wd, "succeeded", provider_reference="BANK-77", key="s-1").headers[
        "Idempotent-Replayed"] == "true"
    for outcome in ("succeeded", "failed"):
        refused = settle(api, wd, outcome)
        assert (refused.status_code, refused.json["code"]) == (409, "invalid_withdrawal_transition")
    assert wallet(api, sam_wallet) == ("60.00", "0.00", "60.00")
    assert settle(api, wd, "returned").json["status"] == "returned"
    assert settle(api, wd, "returned").status_code == 409
    assert wallet(api, sam_wallet) == ("100.00", "0.00", "100.00")
    assert settle(api, "wd_nope", "failed").json["code"] == "withdrawal_not_found"
    assert api.client.post(f"/withdrawals/{wd}/settle", json={"outcome": "failed"},
                           headers=sam).status_code == 403
    check_ledger(app.extensions["store"].tenant("default"))


def test_manual_failure_keeps_the_reason_and_a_refusal_is_replayed(manual):
    app, api, sam, sam_wallet = manual
    wd = withdraw(api, sam, sam_wallet, "40.00").json["id"]
    assert settle(api, wd, "failed", key="f-1").status_code == 409  # still pending
    sweep_at(app, 0)
    assert settle(api, wd, "failed", key="f-1").status_code == 409  # recorded: never flips
    failed = settle(api, wd, "failed", failure_reason="account_closed", key="f-2").json
    assert (failed["status"], failed["failure_reason"]) == ("failed", "account_closed")
    assert wallet(api, sam_wallet) == ("100.00", "0.00", "100.00")
    check_ledger(app.extensions["store"].tenant("default"))


class RecordingProvider:
    """A provider stand-in: one payout per idempotency key, however often it is called."""

    def __init__(self):
        self.calls, self.paid = [], {}

    def submit(self, withdrawal):
        self.calls.append(withdrawal["_id"])
        return self.paid.setdefault(withdrawal["_id"], f"ref-{len(self.paid) + 1}")

    def may_return(self, withdrawal):
        return False

    def outcome(self, withdrawal, moment):
        return None


def test_a_crash_between_the_provider_call_and_its_record_never_pays_twice(manual, monkeypatch):
    app, api, sam, sam_wallet = manual
    store = app.extensions["store"].tenant("default")
    wd = withdraw(api, sam, sam_wallet, "40.00").json["id"]
    provider = RecordingProvider()
    real_record = withdrawals._record

    def crash(*args, **kwargs):
        raise SystemExit("killed after the provider answered")

    monkeypatch.setattr(withdrawals, "_record", crash)
    with pytest.raises(SystemExit):
        withdrawals.submit_pending({"manual": provider}, store, units.now(), 10)
    assert provider.calls == [wd] and ledger.get_withdrawal(store, wd)["status"] == "pending"
    monkeypatch.setattr(withdrawals, "_record", real_record)
    assert withdrawals.submit_pending({"manual": provider}, store, units.now(), 10) == 1
    assert withdrawals.submit_pending({"manual": provider}, store, units.now(), 10) == 0
    assert provider.calls == [wd, wd] and provider.paid == {wd: "ref-1"}
    stored = ledger.get_withdrawal(store, wd)
    assert (stored["status"], stored["provider_reference"]) == ("processing", "ref-1")
    assert events(store, wd) == ["withdrawal.created", "withdrawal.processing"]
    assert wallet(api, sam_wallet) == ("100.00", "40.00", "60.00")  # still held, not paid
    check_ledger(store)


def test_two_recorders_of_one_step_apply_it_once(manual):
    app, api, sam, sam_wallet = manual
    store = app.extensions["store"].tenant("default")
    wd = withdraw(api, sam, sam_wallet, "40.00").json["id"]
    moment = units.now()
    assert withdrawals._record(store, wd, "processing", moment, reference="r") is not None
    assert withdrawals._record(store, wd, "processing", moment, reference="r") is None
    with pytest.raises(errors.InvalidWithdrawalTransition):
        ledger.settle(store, wd, "returned")


def test_concurrent_withdrawals_never_take_available_below_zero(manual):
    app, api, sam, sam_wallet = manual
    store = app.extensions["store"].tenant("default")
    client_id = store.collections["wallets"].find_one({"_id": sam_wallet})["client_id"]
    results, barrier = [], threading.Barrier(8)

    def one():
        barrier.wait()
        try:
            ledger.create_withdrawal(store, client_id, sam_wallet, 3000,
                                     {"type": "bank_account", "account": "acct"}, "manual")
            results.append("ok")
        except errors.InsufficientFunds:
            results.append("refused")

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok"] * 3 + ["refused"] * 5
    assert wallet(api, sam_wallet) == ("100.00", "90.00", "10.00")
    check_ledger(store)


def test_reading_and_listing_withdrawals(manual):
    app, api, sam, sam_wallet = manual
    _, eve, eve_wallet = api.member()
    ids = [withdraw(api, sam, sam_wallet, f"{n}.00").json["id"] for n in (1, 2, 3)]
    assert api.client.get(f"/withdrawals/{ids[0]}", headers=eve).json["code"] == "withdrawal_not_found"
    assert api.client.get(f"/withdrawals/{ids[0]}", headers=OPERATOR).json["amount"] == "1.00"
    first = api.client.get(f"/wallets/{sam_wallet}/withdrawals?limit=2", headers=sam).json
    rest = api.client.get(f"/wallets/{sam_wallet}/withdrawals?limit=2&after={first['next_cursor']}",
                          headers=sam).json
    listed = [w["id"] for w in first["data"] + rest["data"]]
    assert sorted(listed) == sorted(ids) and len(set(listed)) == 3
    assert first["has_more"] and not rest["has_more"] and rest["next_cursor"] is None
    sweep_at(app, 0)
    settle(api, ids[1], "failed")
    failed = api.client.get(f"/wallets/{sam_wallet}/withdrawals?status=failed", headers=sam).json
    assert [w["id"] for w in failed["data"]] == [ids[1]]
    assert api.client.get(f"/wallets/{sam_wallet}/withdrawals", headers=eve).status_code == 404
    bad = api.client.get(f"/wallets/{sam_wallet}/withdrawals?after=aG9sZDoxOmhvbGRfeA", headers=sam)
    assert bad.json["code"] == "invalid_cursor"  # a holds cursor is not a withdrawals cursor


def test_the_provider_defaults_by_engine_and_a_wrong_one_is_refused():
    assert make_app().config["WITHDRAWAL_PROVIDER"] == "sandbox"
    with pytest.raises(RuntimeError, match="WITHDRAWAL_PROVIDER is 'paypal'"):
        make_app(WITHDRAWAL_PROVIDER="paypal")
    assert set(providers.from_config({"SANDBOX_SETTLE_S": 0, "SANDBOX_RETURN_S": 0})) == set(
        providers.PROVIDERS)


def test_the_events_dispatcher_drives_withdrawals(sandbox):
    """The payout steps are registered with the dispatcher: its ticks submit and settle."""
    app, api, sam, sam_wallet = sandbox
    wd = withdraw(api, sam, sam_wallet, "30.00").json["id"]
    dispatcher = dispatch.Dispatcher(app.extensions["store"].tenant(
        "default"), app.config, app.extensions["dispatch_steps"])
    start = units.now()
    dispatcher.clock = lambda: start
    dispatcher.tick()
    assert ledger.get_withdrawal(app.extensions["store"].tenant("default"), wd)["status"] == "processing"
    dispatcher.clock = lambda: start + timedelta(seconds=3)
    dispatcher.tick()
    assert ledger.get_withdrawal(app.extensions["store"].tenant("default"), wd)["status"] == "succeeded"
    assert wallet(api, sam_wallet) == ("70.00", "0.00", "70.00")


def test_limits_count_a_withdrawal_when_it_is_held_and_give_it_back_when_it_fails(manual):
    app, api, sam, sam_wallet = manual
    limits = api.client.put(f"/wallets/{sam_wallet}/limits", json={"daily_out_amount": "50.00",
                                                                   "per_transfer_max": "45.00"},
                            headers=OPERATOR)
    assert limits.status_code == 200, limits.json
    too_big = withdraw(api, sam, sam_wallet, "46.00").json
    assert (too_big["code"], too_big["limit"]) == ("limit_exceeded", "per_transfer_max")
    first = withdraw(api, sam, sam_wallet, "40.00").json["id"]
    refused = withdraw(api, sam, sam_wallet, "20.00").json
    assert (refused["code"], refused["limit"]) == ("limit_exceeded", "daily_out_amount")
    sweep_at(app, 0)
    settle(api, first, "failed")
    assert withdraw(api, sam, sam_wallet, "20.00").status_code == 201  # the failure gave it back
    second = ledger.list_withdrawals(app.extensions["store"].tenant("default"), sam_wallet, 1)[0][0]["_id"]
    sweep_at(app, 0)
    assert settle(api, second, "succeeded").status_code == 200  # counted once, at creation
    assert withdraw(api, sam, sam_wallet, "30.01").json["code"] == "limit_exceeded"
    assert settle(api, second, "returned").status_code == 200
    assert wallet(api, sam_wallet) == ("100.00", "0.00", "100.00")
    check_ledger(app.extensions["store"].tenant("default"))
