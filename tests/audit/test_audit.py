"""The audit catches every corruption: in Python, from the console, and over HTTP."""
import json
import os
import pathlib
import re
import subprocess
import sys
import threading

import pytest

from app import audit, errors, ledger, render
from app import cli
from tests.conftest import ENGINES, OPERATOR_TOKEN, Api
from tests.support.corruptions import CORRUPTIONS, balance_changed, build_world

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def findings(report):
    return {(violation["rule"], violation["id"]) for violation in report.violations}


def test_healthy_books_pass_with_their_totals(store):
    build_world(store)
    report = audit.verify(store)
    assert report.ok and report.violations == [] and report.violation_count == 0
    assert (report.wallets, report.entries) == (3, 6)
    assert report.total_deposited_cents == report.total_held_cents == 1500


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda corrupt: corrupt.__name__)
def test_each_corruption_is_caught_exactly(store, corrupt):
    expected = corrupt(build_world(store))
    report = audit.verify(store, batch_size=2)  # batches smaller than any collection
    assert not report.ok
    assert findings(report) == expected
    assert report.violation_count == len(expected)


def test_every_rule_is_broken_by_some_corruption():
    from tests.conftest import make_app
    caught = set()
    for corrupt in CORRUPTIONS:
        caught |= {rule for rule, _ in corrupt(build_world(make_app().extensions["store"].tenant("default")))}
    assert caught == set(audit.RULES)


def test_only_the_first_violations_are_listed_but_all_are_counted(store):
    build_world(store)
    store.collections["operations"].insert_many([
        {"_id": f"op_stray{i:03d}", "wallet_id": "wal_ghost", "seq": i + 1, "type": "transfer_in",
         "amount_cents": 0, "balance_after_cents": 0, "counterparty_wallet_id": None,
         "transfer_id": None, "details": None} for i in range(150)])
    report = audit.verify(store)
    assert report.violation_count == 450  # each stray entry: no wallet, no transfer, a credit of 0
    assert len(report.violations) == audit.MAX_LISTED == 100


def test_an_audit_of_a_live_process_sees_one_moment(client, store):
    """Transfers keep landing while /audit runs; every audit must still balance."""
    world = build_world(store)
    stop = threading.Event()

    def pay(owner, source, target):
        while not stop.is_set():
            try:
                ledger.transfer(store, owner, source, target, 1)
            except errors.InsufficientFunds:
                pass  # one payer outran the other and drained its wallet: a refusal, not a fault

    payers = [threading.Thread(target=pay, args=(world.a_client, world.a, world.b)),
              threading.Thread(target=pay, args=(world.b_client, world.b, world.a))]
    for payer in payers:
        payer.start()
    results = []
    try:
        # At least 8 audits, and on until transfers have landed between them (a loaded
        # machine may give the payers no turn for a while); bounded at 200 audits.
        while len(results) < 8 or (len({r["entries"] for r in results}) < 2 and len(results) < 200):
            results.append(client.get("/audit", headers=OPERATOR).json)
    finally:
        stop.set()
        for payer in payers:
            payer.join()
    assert [result["violations"] for result in results] == [[]] * len(results)
    assert len({result["entries"] for result in results}) > 1, "no transfer landed during the audits"
    assert audit.verify(store).ok


def test_http_audit_is_for_the_operator_only(client):
    assert client.get("/audit").status_code == 401
    _, headers, _ = Api(client).member()
    response = client.get("/audit", headers=headers)
    assert response.status_code == 403 and response.json["code"] == "forbidden"


def test_http_audit_reports_totals_and_violations(client, store):
    assert client.get("/audit", headers=OPERATOR).json == {
        "ok": True, "wallets": 0, "entries": 0, "total_deposited": "0.00", "total_held": "0.00",
        "accounts_sum": "0.00", "system_accounts": {"bank": "0.00", "payouts": "0.00"},
        "violation_count": 0, "violations": [],
        "tenants": [{"tenant_id": "default", "ok": True, "accounts_sum": "0.00", "violation_count": 0}]}
    world = build_world(store)
    balance_changed(world)
    body = client.get("/audit", headers=OPERATOR).json
    assert (body["ok"], body["wallets"], body["entries"]) == (False, 3, 6)
    assert (body["total_deposited"], body["total_held"]) == ("15.00", "15.07")
    assert (body["accounts_sum"], body["system_accounts"]) == ("0.07", {"bank": "-15.00", "payouts": "0.00"})
    assert {(v["rule"], v["id"]) for v in body["violations"]} == balance_changed(world)


# The console reads the database of MONGO_URI; on the embedded engine it refuses (below).
on_mongodb = pytest.mark.parametrize("app", [ENGINES[1]], indirect=True)


@on_mongodb
def test_console_verify_on_healthy_books(app, store):
    build_world(store)
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "wallets: 3  entries: 6  money in: 15.00  money held: 15.00" in result.output
    assert "OK: the books balance" in result.output


@on_mongodb
def test_console_verify_lists_violations_and_exits_non_zero(app, store):
    world = build_world(store)
    balance_changed(world)
    result = app.test_cli_runner().invoke(args=["ledger", "verify", "--batch-size", "1"])
    assert result.exit_code == 1
    assert f"VIOLATION balance_equals_journal_sum {world.a}: balance 807 cents" in result.output
    assert "VIOLATION accounts_sum_zero None" in result.output
    assert "FAILED: 4 violation(s)" in result.output


@on_mongodb
def test_console_verify_json_matches_http(app, client, store):
    corrupt = build_world(store)
    balance_changed(corrupt)
    result = app.test_cli_runner().invoke(args=["ledger", "verify", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output) == client.get("/audit", headers=OPERATOR).json


def test_console_report_lists_violations(store, capsys):
    """The console's printout, without the console (which the embedded engine refuses)."""
    world = build_world(store)
    balance_changed(world)
    cli._print_report(store.engine, render.audit(audit.verify(store, batch_size=1)))
    printed = capsys.readouterr().out
    assert f"VIOLATION balance_equals_journal_sum {world.a}: balance 807 cents" in printed
    assert "VIOLATION accounts_sum_zero None" in printed
    assert "FAILED: 4 violation(s)" in printed


@pytest.mark.parametrize("app", [ENGINES[0]], indirect=True)
def test_console_verify_refuses_the_embedded_engine(app):
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 1
    assert "GET /audit" in result.output and "the books balance" not in result.output


def test_flask_command_refuses_the_embedded_engine_and_prints_no_token():
    """The real console script, in a fresh process: its embedded engine would be new and empty."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("MONGO_URI", "OPERATOR_TOKEN", "SECRET_KEY")}
    flask = pathlib.Path(sys.executable).parent / "flask"
    done = subprocess.run([str(flask), "--app", "app", "ledger", "verify"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "GET /audit" in done.stderr
    assert "the books balance" not in done.stdout
    # secrets.token_urlsafe(32): 43 characters of the URL-safe alphabet
    assert not re.search(r"[A-Za-z0-9_-]{43}", done.stdout + done.stderr), done.stderr
