"""The money rules without HTTP, on every engine: atomicity and invariants under concurrency."""
import random
import re
import threading

import pytest

from app import errors, ledger
from app.ledger import postings
from app.ledger.invariants import ArgumentOutOfRange
from tests.conftest import check_ledger


def open_wallets(store, count, cents):
    wallets = []
    for i in range(count):
        result, _ = ledger.create_client(store, f"w{i}@example.com", f"W{i}", "hash")
        if cents:
            ledger.deposit(store, result["wallet"]["_id"], cents)
        wallets.append((result["client"]["_id"], result["wallet"]["_id"]))
    return wallets


def test_random_transfers_from_many_threads_keep_the_books_whole(store):
    wallets = open_wallets(store, 5, 1_000)
    outcomes = {"ok": 0, "insufficient": 0}
    lock = threading.Lock()

    def worker(seed):
        rng = random.Random(seed)
        for _ in range(60):
            (owner, source), (_, target) = rng.sample(wallets, 2)
            try:
                ledger.transfer(store, owner, source, target, rng.randint(1, 700))
                kind = "ok"
            except errors.InsufficientFunds:
                kind = "insufficient"
            with lock:
                outcomes[kind] += 1

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["ok"] + outcomes["insufficient"] == 480
    assert outcomes["ok"] > 0
    assert check_ledger(store) == 5 * 1_000
    assert store.collections["transfers"].count_documents({"type": "transfer"}) == outcomes["ok"]


def test_failure_inside_a_transfer_leaves_no_trace(store, monkeypatch):
    (owner, source), (_, target) = open_wallets(store, 2, 500)
    original = postings._entry
    calls = []

    def failing_entry(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # after the debit, the credit and the first journal entry
            raise RuntimeError("forced failure")
        return original(*args, **kwargs)

    monkeypatch.setattr(postings, "_entry", failing_entry)
    with pytest.raises(RuntimeError, match="forced failure"):
        ledger.transfer(store, owner, source, target, 100)
    monkeypatch.setattr(postings, "_entry", original)
    assert store.collections["wallets"].find_one({"_id": source})["balance_cents"] == 500
    assert store.collections["wallets"].find_one({"_id": target})["balance_cents"] == 500
    assert store.collections["transfers"].count_documents({"type": "transfer"}) == 0
    assert store.collections["operations"].count_documents({"type": {"$ne": "deposit"}}) == 0
    check_ledger(store)


def test_insufficient_funds_writes_nothing_but_the_refusal(store):
    (owner, source), (_, target) = open_wallets(store, 2, 100)
    with pytest.raises(errors.InsufficientFunds):
        ledger.transfer(store, owner, source, target, 101)
    assert store.collections["wallets"].find_one({"_id": source})["version"] == 1
    assert store.collections["operations"].count_documents({}) == 2


def test_refusal_with_a_key_is_recorded(store):
    from app.storage.idempotency import IdempotencyKey
    (owner, source), (_, target) = open_wallets(store, 2, 100)
    idem = IdempotencyKey(f"client:{owner}", "k", "fp")
    for expected_replay in (False, True):
        with pytest.raises(errors.InsufficientFunds) as caught:
            ledger.transfer(store, owner, source, target, 500, idem=idem)
        assert caught.value.replayed is expected_replay


def test_amounts_must_be_positive_cents(store):
    (owner, source), (_, target) = open_wallets(store, 2, 100)
    with pytest.raises(ArgumentOutOfRange):
        ledger.transfer(store, owner, source, target, 0)
    with pytest.raises(ArgumentOutOfRange):
        ledger.deposit(store, source, -1)


def test_ids_are_random_not_counted():
    """ObjectIds from one process differ by a small counter step; guessable neighbours are refused."""
    ids = [ledger.new_id("wal") for _ in range(200)]
    assert all(re.fullmatch(r"wal_[0-9a-f]{24}", i) for i in ids)
    assert len(set(ids)) == 200
    steps = [abs(int(b[4:], 16) - int(a[4:], 16)) for a, b in zip(ids, ids[1:])]
    assert min(steps) > 2 ** 32
