"""What only a real MongoDB replica set can answer (MONGO_URI; `docker compose run --rm tests`).

Atomic commits, aborts that leave nothing behind, write conflicts and their
retries, duplicates racing on separate connections, invariants at every
snapshot, the audit's journal summaries in a snapshot session, a primary
step-down, and the refusal of a standalone server.
"""
import collections
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from pymongo.errors import ConfigurationError, ConnectionFailure, PyMongoError

from app import audit, create_app, errors, ledger
from app.audit import journal as audit_journal
from app.storage import idempotency
from app.storage.idempotency import IdempotencyKey
from tests.conftest import BASE_CONFIG, MONGO_URI, Api, check_ledger, make_app, needs_real_replica_set
from tests.support.corruptions import (balance_changed, build_world, debit_type_unknown, entry_without_wallet,
                                       negative_balance_after, seq_repeated)

pytestmark = pytest.mark.mongo
STANDALONE_URI = os.environ.get("MONGO_STANDALONE_URI")


@pytest.fixture
def mongo_apps():
    """``make()`` -> another app with its own MongoClient, all on one fresh database."""
    if not MONGO_URI:
        pytest.skip("needs MONGO_URI naming a MongoDB replica set")
    database_name = f"wallet_test_{uuid.uuid4().hex[:12]}"
    apps = []

    def make(**overrides):
        apps.append(make_app("mongodb", MONGO_DB=database_name, **overrides))
        return apps[-1]

    yield make
    for app in apps:
        client = app.extensions["storage"]._client
        client.drop_database(database_name)
        client.close()


@pytest.fixture
def store(mongo_apps):
    app = mongo_apps()
    store = app.extensions["store"].tenant("default")
    store._client = app.extensions["storage"]._client  # the oplog and the admin commands below
    return store


def open_wallets(store, count, cents):
    """[(client id, wallet id)], each wallet topped up with ``cents``."""
    wallets = []
    for _ in range(count):
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        result, _ = ledger.create_client(store, email, "W", "hash")
        if cents:
            ledger.deposit(store, result["wallet"]["_id"], cents)
        wallets.append((result["client"]["_id"], result["wallet"]["_id"]))
    return wallets


def oplog(store):
    return store._client.local["oplog.rs"]


def last_oplog_time(store):
    return oplog(store).find_one(sort=[("$natural", -1)])["ts"]


def oplog_entries_since(store, moment):
    """Oplog entries after ``moment`` that write to this test's database."""
    prefix = f"^{store.collections['wallets'].database.name}\\."
    return list(oplog(store).find({"ts": {"$gt": moment}, "$or": [
        {"ns": {"$regex": prefix}}, {"o.applyOps.ns": {"$regex": prefix}}]}))


@needs_real_replica_set("the oplog (local.oplog.rs): a transaction replicates as one applyOps entry")
def test_a_transfer_commits_as_one_oplog_entry(store):
    (owner, source), (_, target) = open_wallets(store, 2, 500)
    since = last_oplog_time(store)
    record, _ = ledger.transfer(store, owner, source, target, 120,
                                idem=IdempotencyKey(f"client:{owner}", "k-1", "fp"))
    entries = oplog_entries_since(store, since)
    # Replication applies a transaction as one applyOps entry: all of it, or nothing.
    assert len(entries) == 1, entries
    writes = entries[0]["o"]["applyOps"]
    assert sorted((write["op"], write["ns"].split(".", 1)[1]) for write in writes) == [
        ("i", "idempotency"), ("i", "operations"), ("i", "operations"), ("i", "transfers"),
        ("u", "wallets"), ("u", "wallets")]
    assert {write["o2"]["_id"] for write in writes if write["op"] == "u"} == {source, target}
    assert [write["o"]["_id"] for write in writes if write["ns"].endswith(".transfers")] == [
        record["_id"]]


@needs_real_replica_set("the oplog (local.oplog.rs): an aborted transaction writes no entry")
def test_a_failure_after_every_write_leaves_no_trace_even_in_the_oplog(store, monkeypatch):
    (owner, source), (_, target) = open_wallets(store, 2, 500)
    since = last_oplog_time(store)
    original = idempotency.record

    def record_then_fail(tx, idem, outcome):
        original(tx, idem, outcome)  # the last write of the transfer
        raise RuntimeError("forced failure")

    monkeypatch.setattr(idempotency, "record", record_then_fail)
    with pytest.raises(RuntimeError, match="forced failure"):
        ledger.transfer(store, owner, source, target, 100,
                        idem=IdempotencyKey(f"client:{owner}", "k-2", "fp"))
    monkeypatch.undo()
    assert store.transaction_retries == 0, "only transient errors are retried"
    for wallet_id in (source, target):
        wallet = store.collections["wallets"].find_one({"_id": wallet_id})
        assert (wallet["balance_cents"], wallet["version"]) == (500, 1)
    for name in ("transfers", "idempotency"):
        assert store.collections[name].count_documents({}) == 0
    assert store.collections["operations"].count_documents({"type": {"$ne": "deposit"}}) == 0
    assert oplog_entries_since(store, since) == []
    check_ledger(store)


@needs_real_replica_set("per-document write conflicts: 32 writers of one hot wallet retry until each "
                        "wins; the stand-in's commits conflict globally, so under 32 threads they starve")
def test_thirty_two_threads_on_one_hot_wallet_conflict_retry_and_keep_the_books(store):
    senders = open_wallets(store, 32, 10_000)
    [(_, hot)] = open_wallets(store, 1, 0)
    start = threading.Barrier(32)

    def send(owner, wallet_id):
        start.wait()
        for _ in range(10):
            ledger.transfer(store, owner, wallet_id, hot, 7)

    with ThreadPoolExecutor(max_workers=32) as pool:
        for future in [pool.submit(send, owner, wallet_id) for owner, wallet_id in senders]:
            future.result()
    assert store.transaction_retries > 0, "32 writers on one document must have collided"
    wallet = store.collections["wallets"].find_one({"_id": hot})
    assert (wallet["balance_cents"], wallet["version"]) == (320 * 7, 320)
    assert store.collections["transfers"].count_documents({"type": "transfer"}) == 320
    assert check_ledger(store) == 32 * 10_000


def test_past_the_request_timeout_a_hot_wallet_is_wallet_busy_and_the_books_stay_whole(mongo_apps):
    store = mongo_apps().extensions["store"].tenant("default")
    senders = open_wallets(store, 32, 10_000)
    [(_, hot)] = open_wallets(store, 1, 0)
    hurried = mongo_apps(REQUEST_TIMEOUT_MS=40).extensions["store"].tenant("default")
    start, outcomes = threading.Barrier(32), collections.Counter()

    def send(owner, wallet_id):
        start.wait()
        for _ in range(5):
            try:
                ledger.transfer(hurried, owner, wallet_id, hot, 7)
                outcomes["posted"] += 1
            except (errors.WalletBusy, errors.DatabaseUnavailable, errors.OutcomeUnknown) as error:
                outcomes[error.code] += 1

    with ThreadPoolExecutor(max_workers=32) as pool:
        for future in [pool.submit(send, owner, wallet_id) for owner, wallet_id in senders]:
            future.result()
    assert outcomes["wallet_busy"] > 0 and hurried.write_conflicts["wallet"] > 0, outcomes
    posted = store.collections["transfers"].count_documents({"type": "transfer"})
    assert store.collections["wallets"].find_one({"_id": hot})["balance_cents"] == 7 * posted
    check_ledger(store)


def test_duplicates_racing_on_two_connections_move_money_once(mongo_apps):
    first, second = mongo_apps(), mongo_apps()
    assert first.extensions["storage"]._client is not second.extensions["storage"]._client
    api = Api(first.test_client())
    _, alice, alice_wallet = api.member(balance="100.00")
    _, _, bob_wallet = api.member()
    body = {"from_wallet_id": alice_wallet, "to_wallet_id": bob_wallet, "amount": "25.00"}
    start = threading.Barrier(16)

    def send(app):
        client = app.test_client()
        start.wait()
        response = client.post("/transfers", json=body, headers=dict(alice, **{"Idempotency-Key": "race"}))
        return response.status_code, response.json.get("id"), response.headers.get("Idempotent-Replayed")

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(send, [first, second] * 8))
    assert {status for status, _, _ in results} == {201}, results
    assert len({transfer_id for _, transfer_id, _ in results}) == 1
    assert [replayed for _, _, replayed in results].count(None) == 1, "one original, 15 replays"
    assert api.balance(alice, alice_wallet) == "75.00"
    check_ledger(first.extensions["store"].tenant("default"))


def snapshot_totals(tx):
    """What one transaction sees: money held, money deposited, and the transfer legs."""
    held = sum(w["balance_cents"] for w in tx.wallets.find({}, {"balance_cents": 1}))
    deposited = sum(e["amount_cents"] for e in tx.operations.find({"type": "deposit"}, {"amount_cents": 1}))
    legs = [tx.operations.count_documents({"type": kind}) for kind in ("transfer_out", "transfer_in")]
    return held, deposited, *legs, tx.transfers.count_documents({"type": "transfer"})


def test_invariant_storm_on_two_connections_holds_at_every_snapshot(mongo_apps):
    stores = [mongo_apps().extensions["store"].tenant("default") for _ in range(2)]
    wallets = open_wallets(stores[0], 6, 1_000)
    stop, snapshots = threading.Event(), []

    def observe():
        while not stop.is_set():
            snapshots.append(stores[1].transaction(snapshot_totals))

    def storm(seed):
        rng, store = random.Random(seed), stores[seed % 2]
        outcomes, deposited_cents = collections.Counter(), 0
        for _ in range(40):
            if rng.random() < 0.1:
                cents = rng.randint(1, 300)
                ledger.deposit(store, rng.choice(wallets)[1], cents)
                outcomes["deposit"], deposited_cents = outcomes["deposit"] + 1, deposited_cents + cents
                continue
            (owner, source), (_, target) = rng.sample(wallets, 2)
            try:
                ledger.transfer(store, owner, source, target, rng.randint(1, 700))
                outcomes["ok"] += 1
            except errors.InsufficientFunds:
                outcomes["insufficient"] += 1
        return outcomes, deposited_cents

    with ThreadPoolExecutor(max_workers=1) as watcher, ThreadPoolExecutor(max_workers=8) as pool:
        observer = watcher.submit(observe)
        try:
            results = [future.result() for future in [pool.submit(storm, s) for s in range(8)]]
        finally:
            stop.set()
        observer.result()
    outcomes = sum((counts for counts, _ in results), collections.Counter())
    assert sum(outcomes.values()) == 320 and outcomes["ok"] > 0
    assert len(snapshots) > 1
    for held, deposited, outs, ins, transfers in snapshots:
        assert held == deposited and outs == ins == transfers
    assert stores[0].collections["transfers"].count_documents({"type": "transfer"}) == outcomes["ok"]
    assert check_ledger(stores[0]) == 6 * 1_000 + sum(cents for _, cents in results)


def test_transfers_keep_the_books_whole_across_a_primary_step_down(store):
    admin = store._client.admin
    hello = admin.command("hello")
    if len(hello.get("hosts", [])) < 3:
        pytest.skip("needs three electable members (docker-compose.replicaset.yml)")
    wallets, stop, done = open_wallets(store, 4, 100_000), threading.Event(), collections.Counter()

    def transfer_until_stopped(seed):
        rng = random.Random(seed)
        while not stop.is_set():
            (owner, source), (_, target) = rng.sample(wallets, 2)
            ledger.transfer(store, owner, source, target, rng.randint(1, 50))
            done[seed] += 1

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(transfer_until_stopped, seed) for seed in range(4)]
        try:
            time.sleep(1)
            try:
                admin.command("replSetStepDown", 30)
            except ConnectionFailure:
                pass  # the old primary may drop this connection as it steps down
            new_primary = wait_for_new_primary(admin, hello["primary"])
            time.sleep(2)  # keep transferring on the new primary
        finally:
            stop.set()
        for future in futures:
            future.result()
    assert new_primary != hello["primary"]
    assert all(done[seed] > 0 for seed in range(4))
    assert store.collections["transfers"].count_documents({"type": "transfer"}) == sum(done.values())
    check_ledger(store)


def wait_for_new_primary(admin, old_primary, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            primary = admin.command("hello").get("primary")
        except PyMongoError:
            primary = None
        if primary and primary != old_primary:
            return primary
        time.sleep(0.5)
    pytest.fail(f"no new primary within {timeout_s} s")


@pytest.mark.parametrize("corrupt", [balance_changed, negative_balance_after, debit_type_unknown,
                                     entry_without_wallet, seq_repeated], ids=lambda c: c.__name__)
def test_the_server_summarises_the_journal_in_the_snapshot_and_the_audit_flags_the_corruption(
        store, corrupt):
    """The $group (index-hinted, allowDiskUse) in a snapshot session, listIndexes outside it; the
    suspect and orphan wallets' entries read back; seq_repeated drops the index: the exact one."""
    world = build_world(store)
    healthy = store.snapshot(lambda db: [list(db.operations.aggregate(pipeline, allowDiskUse=True))
                                         for pipeline in (audit_journal.SUMMARY_PIPELINE,
                                                          audit_journal.EXACT_SUMMARY_PIPELINE)])
    assert healthy[0] == healthy[1] and len(healthy[0]) == 2
    expected = corrupt(world)
    report = audit.verify(store, batch_size=2)
    assert {(v["rule"], v["id"]) for v in report.violations} == expected
    assert report.violation_count == len(expected)


def test_a_changed_idempotency_ttl_is_applied_by_db_init_and_start_up_still_works(mongo_apps):
    first = mongo_apps()  # db init made the TTL index with the default lifetime
    database = first.extensions["storage"].collections["idempotency"].database
    second = make_app("mongodb", MONGO_DB=database.name, IDEMPOTENCY_TTL_S=7200)  # runs init
    try:
        indexes = second.extensions["storage"].collections["idempotency"].list_indexes()
        (ttl,) = [index for index in indexes if dict(index["key"]) == {"created_at": 1}]
        assert ttl["expireAfterSeconds"] == 7200
    finally:
        second.extensions["storage"]._client.close()


def test_boot_on_an_uninitialised_database_refuses_and_names_what_is_missing():
    if not MONGO_URI:
        pytest.skip("needs MONGO_URI naming a MongoDB replica set")
    with pytest.raises(RuntimeError, match="index operations \\(wallet_id, seq\\) is missing"):
        create_app(dict(BASE_CONFIG, MONGO_URI=MONGO_URI, MONGO_DB=f"wallet_empty_{uuid.uuid4().hex[:8]}"))


@pytest.mark.skipif(not STANDALONE_URI, reason="needs MONGO_STANDALONE_URI naming a standalone mongod")
def test_the_api_refuses_a_standalone_server_with_a_clear_message():
    with pytest.raises(ConfigurationError) as refused:
        create_app(dict(BASE_CONFIG, MONGO_URI=STANDALONE_URI, MONGO_DB="wallet_refused"))
    message = str(refused.value)
    assert "is not a replica set member" in message
    assert "Start mongod with --replSet and run rs.initiate()" in message
