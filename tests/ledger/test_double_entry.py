"""The double-entry model: postings that balance, system accounts, held and available money."""
import ast
import pathlib
import subprocess
import sys
import threading

import mongomock
import pytest

from app import audit, errors, ledger
from app.storage import schema
from app.ledger import accounts, postings
from app.ledger.invariants import EntrySignMismatch, UnbalancedPostings
from app.ledger.postings import Posting
from tests.conftest import Api, check_ledger

ROOT = pathlib.Path(__file__).resolve().parents[2]


def counts(store):
    return {name: store.collections[name].count_documents({}) for name in
            ("wallets", "operations", "transfers", "events")}


def test_unbalanced_postings_are_refused_and_nothing_is_written(store):
    result, _ = ledger.create_client(store, "a@example.com", "A", "hash")
    wallet_id = result["wallet"]["_id"]
    ledger.deposit(store, wallet_id, 500)
    before = (counts(store), store.collections["wallets"].find_one({"_id": wallet_id}))
    record = {"_id": ledger.new_id("tr"), "type": "deposit", "amount_cents": 100}
    for unbalanced in ([Posting(accounts.shard_ids("bank")[0], -100), Posting(wallet_id, 101, "deposit")],
                       [Posting(wallet_id, 100, "deposit")],
                       [Posting(accounts.shard_ids("bank")[0], 0), Posting(wallet_id, 0, "deposit")],
                       [Posting(accounts.shard_ids("bank")[0], 100), Posting(wallet_id, -100, "deposit")]):
        with pytest.raises((UnbalancedPostings, EntrySignMismatch)):
            store.transaction(lambda tx: postings.post(tx, record, unbalanced, ledger.now()))
    assert (counts(store), store.collections["wallets"].find_one({"_id": wallet_id})) == before
    check_ledger(store)


UNDER_O = """
import sys
from app import ledger
from app.ledger import accounts, postings
from app.ledger.invariants import UnbalancedPostings
from app.ledger.postings import Posting
from tests.conftest import make_app

assert sys.flags.optimize and not __debug__, "not under python -O"
store = make_app().extensions["store"].tenant("default")
result, _ = ledger.create_client(store, "a@example.com", "A", "hash")
wallet_id = result["wallet"]["_id"]
record = {"_id": ledger.new_id("tr"), "type": "deposit", "amount_cents": 100}
unbalanced = [Posting(accounts.shard_ids("bank")[0], -100), Posting(wallet_id, 101, "deposit")]
try:
    store.transaction(lambda tx: postings.post(tx, record, unbalanced, ledger.now()))
except UnbalancedPostings as refusal:
    print("refused", refusal.rule, store.collections["transfers"].count_documents({}),
          store.collections["wallets"].find_one({"_id": wallet_id})["balance_cents"])
"""


def test_unbalanced_postings_are_refused_under_python_O():
    """python -O strips every assert: the refusal is a named exception, so it stays."""
    done = subprocess.run([sys.executable, "-O", "-c", UNDER_O], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["refused", "postings_must_balance", "0", "0"]


def test_the_app_has_no_assert_statements():
    """An assert is gone under -O: rules are named exceptions (app/ledger/invariants.py)."""
    found = [f"{path.relative_to(ROOT)}:{node.lineno}"
             for path in sorted((ROOT / "app").rglob("*.py")) + sorted((ROOT / "reports").rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assert)]
    assert found == []


def test_a_deposit_is_a_transfer_from_the_bank(store):
    result, _ = ledger.create_client(store, "a@example.com", "A", "hash")
    wallet_id = result["wallet"]["_id"]
    entry, _ = ledger.deposit(store, wallet_id, 1234)
    record = store.collections["transfers"].find_one({"_id": entry["transfer_id"]})
    assert (record["type"], record["status"], record["to_wallet_id"]) == ("deposit", "posted", wallet_id)
    (bank_posting,) = [p for p in record["postings"] if accounts.is_system(p["account_id"])]
    (wallet_posting,) = [p for p in record["postings"] if p["account_id"] == wallet_id]
    assert bank_posting["amount_cents"] == -1234 and bank_posting["account_id"].startswith("sys_bank_")
    assert wallet_posting == {"account_id": wallet_id, "amount_cents": 1234, "entry_id": entry["_id"]}
    (bank,) = [a for a in ledger.system_accounts(store) if a["name"] == "bank"]
    assert bank["balance_cents"] == -1234
    report = audit.verify(store)
    assert report.ok and report.accounts_sum_cents == 0 and report.system_balances["bank"] == -1234


def test_deposits_spread_over_the_bank_shards(store):
    """No single document is written by every deposit (on MongoDB: no WriteConflict hot spot)."""
    result, _ = ledger.create_client(store, "a@example.com", "A", "hash")
    for _ in range(64):
        ledger.deposit(store, result["wallet"]["_id"], 1)
    touched = [shard for shard in store.collections["system_accounts"].find({"name": "bank"})
               if shard["balance_cents"] != 0]
    assert len(touched) > 4, "64 deposits all landed on a handful of shards"
    assert max(-shard["balance_cents"] for shard in touched) < 64
    assert sum(shard["balance_cents"] for shard in touched) == -64


def test_http_storm_of_deposits_and_transfers_keeps_every_account_summing_to_zero(app):
    api = Api(app.test_client())
    members = [api.member(balance="50.00") for _ in range(6)]
    refused, lock = [], threading.Lock()

    def worker(seed):
        client = app.test_client()
        worker_api = Api(client)
        for step in range(25):
            body, headers, source = members[(seed + step) % 6]
            target = members[(seed + step + 1) % 6][2]
            if step % 3 == 0:
                response = worker_api.deposit(source, f"{seed + 1}.{step:02d}")
            else:
                response = worker_api.transfer(headers, source, target, f"{(seed * 7 + step) % 30}.50")
            with lock:
                if response.status_code != 201:
                    refused.append(response.json["code"])

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(refused) <= {"insufficient_funds"}
    body = api.client.get("/audit", headers=api.operator).json
    assert body["ok"] is True, body["violations"]
    assert body["accounts_sum"] == "0.00"
    assert body["system_accounts"]["bank"] == "-" + body["total_held"]
    bank = api.client.get("/system-accounts", headers=api.operator).json["data"][0]
    assert bank["balance"] == body["system_accounts"]["bank"]


def test_debits_are_guarded_on_available_money_under_concurrency(store):
    (owner, source), (_, target) = [
        (r["client"]["_id"], r["wallet"]["_id"]) for r in
        (ledger.create_client(store, f"{n}@example.com", n, "hash")[0] for n in ("a", "b"))]
    ledger.deposit(store, source, 1000)
    # Reserve 600 the way a hold does: held up, available down, balance unchanged.
    reserve = {"$inc": {"held_cents": 600, "available_cents": -600}}
    store.collections["wallets"].update_one({"_id": source}, reserve)
    outcomes, lock = [], threading.Lock()

    def pay():
        try:
            ledger.transfer(store, owner, source, target, 100)
            result = "posted"
        except errors.InsufficientFunds:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=pay) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["posted"] * 4 + ["refused"] * 4
    wallet = store.collections["wallets"].find_one({"_id": source})
    assert (wallet["balance_cents"], wallet["held_cents"], wallet["available_cents"]) == (600, 600, 0)


def test_wallets_show_balance_held_and_available(api, client):
    body, headers, wallet_id = api.member(balance="10.00")
    assert (body["wallet"]["held"], body["wallet"]["available"]) == ("0.00", "0.00")
    wallet = client.get(f"/wallets/{wallet_id}", headers=headers).json
    assert (wallet["balance"], wallet["held"], wallet["available"]) == ("10.00", "0.00", "10.00")
    me = client.get("/clients/me", headers=headers).json["wallet"]
    assert (me["balance"], me["held"], me["available"]) == ("10.00", "0.00", "10.00")


def test_system_accounts_are_for_the_operator(api, client):
    _, headers, wallet_id = api.member(balance="12.34")
    response = client.get("/system-accounts", headers=api.operator)
    assert response.status_code == 200
    assert [(a["id"], a["name"], a["currency"], a["balance"]) for a in response.json["data"]] == [
        ("sys_bank", "bank", "USD", "-12.34"), ("sys_payouts", "payouts", "USD", "0.00")]
    forbidden = client.get("/system-accounts", headers=headers)
    assert forbidden.status_code == 403 and forbidden.json["code"] == "forbidden"
    assert client.get("/system-accounts").status_code == 401


def test_a_failed_unit_leaves_no_event_and_a_posted_one_leaves_one(store, monkeypatch):
    (owner, source), (_, target) = [
        (r["client"]["_id"], r["wallet"]["_id"]) for r in
        (ledger.create_client(store, f"{n}@example.com", n, "hash")[0] for n in ("a", "b"))]
    ledger.deposit(store, source, 500)
    ledger.transfer(store, owner, source, target, 100)
    types = [e["type"] for e in store.collections["events"].find()]
    assert types == ["deposit.posted", "transfer.posted"]
    with pytest.raises(errors.InsufficientFunds):
        ledger.transfer(store, owner, source, target, 10_000)
    original = postings._entry
    monkeypatch.setattr(postings, "_entry", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        ledger.transfer(store, owner, source, target, 100)
    monkeypatch.setattr(postings, "_entry", original)
    assert store.collections["events"].count_documents({}) == 2


def test_a_database_of_another_version_is_refused():
    meta = mongomock.MongoClient().db.meta
    schema.record_schema_version(meta)
    schema.record_schema_version(meta)  # the same version again: fine
    meta.update_one({"_id": "schema"}, {"$set": {"version": 1}})
    with pytest.raises(RuntimeError, match=r"holds data model version 1; this build needs version 3"):
        schema.record_schema_version(meta)


@pytest.mark.parametrize("change, problem", [
    ({"$set": {"currency": "EUR"}}, "sys_bank_03 is corrupt: kind 'system', name 'bank', currency 'EUR'"),
    ({"$set": {"kind": "wallet"}}, "sys_bank_03 is corrupt: kind 'wallet'"),
    ({"$set": {"balance_cents": 1.5}}, "sys_bank_03 is corrupt: balance_cents 1.5"),
])
def test_a_corrupt_system_account_stops_start_up(change, problem):
    collection = mongomock.MongoClient().db.system_accounts
    accounts.ensure_system_accounts(collection)
    collection.update_one({"_id": "sys_bank_03"}, change)
    with pytest.raises(RuntimeError, match="system accounts are not as this version needs them") as caught:
        accounts.ensure_system_accounts(collection)
    assert problem in str(caught.value)


def test_a_missing_system_account_is_named():
    collection = mongomock.MongoClient().db.system_accounts
    accounts.ensure_system_accounts(collection)
    collection.delete_one({"_id": "sys_payouts_15"})
    with pytest.raises(RuntimeError, match="sys_payouts_15 is missing"):
        accounts.check_system_accounts(collection)


def test_the_ledger_imports_no_flask():
    code = ("import sys, app.ledger, app.audit, app.errors, reports; "
            "print(sorted(m for m in ('flask', 'werkzeug') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
