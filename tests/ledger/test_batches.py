"""POST /transfer-batches: atomic and independent, per-item and whole-request errors, replay, threads."""
import json
import random
import threading

import pytest

from app import errors, ledger
from app.ledger import batches, events, postings, transfers
from app.web.validation import SCHEMA_DIR
from tests.conftest import ON_STANDIN, check_ledger


@pytest.fixture
def trio(api):
    """Ada with $100.00, Bob and Cy with nothing."""
    _, ada, ada_wallet = api.member(balance="100.00")
    _, bob, bob_wallet = api.member()
    _, cy, cy_wallet = api.member()
    return ada, ada_wallet, bob, bob_wallet, cy, cy_wallet


def send(client, headers, mode, items, **extra):
    return client.post("/transfer-batches", json={"mode": mode, "transfers": items},
                       headers=dict(headers, **extra))


def item(source, target, amount, **extra):
    return dict({"from_wallet_id": source, "to_wallet_id": target, "amount": amount}, **extra)


def counts(store):
    return {name: store.collections[name].count_documents({})
            for name in ("transfers", "operations", "events")}


def wallet(client, wallet_id):
    body = client.get(f"/wallets/{wallet_id}", headers={"Authorization": "Bearer test-operator-token"}).json
    return body["balance"], body["available"], body["version"]


def test_atomic_batch_posts_every_item_readable_and_journalled(client, store, trio):
    ada, ada_wallet, bob, bob_wallet, cy, cy_wallet = trio
    response = send(client, ada, "atomic", [item(ada_wallet, bob_wallet, "10.00", ref="inv-1"),
                                            item(ada_wallet, cy_wallet, "2.50", details="tip")])
    assert response.status_code == 201
    body = response.json
    assert body["mode"] == "atomic" and body["id"].startswith("trb_")
    assert [(r["index"], r["ref"], r["status"], r["error"]) for r in body["results"]] == [
        (0, "inv-1", "posted", None), (1, None, "posted", None)]
    assert wallet(client, ada_wallet)[0] == "87.50"
    expected = ((bob, bob_wallet, "10.00"), (cy, cy_wallet, "2.50"))
    for result, (who, target, amount) in zip(body["results"], expected):
        transfer = client.get(f"/transfers/{result['transfer_id']}", headers=who).json
        assert (transfer["from_wallet_id"], transfer["to_wallet_id"], transfer["amount"]) == (
            ada_wallet, target, amount)
        into = client.get(f"/wallets/{target}/operations", headers=who).json["data"][0]
        assert (into["type"], into["transfer_id"]) == ("transfer_in", result["transfer_id"])
    out = client.get(f"/wallets/{ada_wallet}/operations", headers=ada).json["data"]
    assert [op["transfer_id"] for op in out[:2]] == [r["transfer_id"] for r in reversed(body["results"])]
    posted = store.collections["events"].count_documents({"type": "transfer.posted"})
    assert posted == 2
    check_ledger(store)


def failing_item(kind, ada_wallet, bob_wallet):
    return {"insufficient_funds": item(ada_wallet, bob_wallet, "95.00"),
            "wallet_not_found": item(ada_wallet, "wal_nobody", "1.00"),
            "accounts_must_be_different": item(ada_wallet, ada_wallet, "1.00")}[kind]


ITEM_ERRORS = ["insufficient_funds", "wallet_not_found", "accounts_must_be_different"]


@pytest.mark.parametrize("kind", ITEM_ERRORS)
def test_atomic_batch_with_a_failing_item_changes_nothing(client, store, trio, kind):
    ada, ada_wallet, _, bob_wallet, _, cy_wallet = trio
    before, stored = (wallet(client, ada_wallet), wallet(client, bob_wallet)), counts(store)
    items = [item(ada_wallet, bob_wallet, "10.00"), failing_item(kind, ada_wallet, bob_wallet),
             item(ada_wallet, cy_wallet, "1.00")]
    response = send(client, ada, "atomic", items)
    assert response.status_code == 201
    results = response.json["results"]
    assert [r["error"]["code"] for r in results] == ["batch_failed", kind, "batch_failed"]
    assert all(r["status"] == "failed" and r["transfer_id"] is None for r in results)
    assert (wallet(client, ada_wallet), wallet(client, bob_wallet)) == before
    assert counts(store) == stored
    check_ledger(store)


@pytest.mark.parametrize("kind", ITEM_ERRORS)
def test_independent_batch_fails_only_the_failing_item(client, store, trio, kind):
    ada, ada_wallet, _, bob_wallet, _, cy_wallet = trio
    items = [item(ada_wallet, bob_wallet, "10.00"), failing_item(kind, ada_wallet, bob_wallet),
             item(ada_wallet, cy_wallet, "1.00")]
    results = send(client, ada, "independent", items).json["results"]
    assert [r["status"] for r in results] == ["posted", "failed", "posted"]
    assert results[1]["error"]["code"] == kind and results[1]["transfer_id"] is None
    assert wallet(client, ada_wallet)[:2] == ("89.00", "89.00")
    assert wallet(client, bob_wallet)[0] == "10.00" and wallet(client, cy_wallet)[0] == "1.00"
    assert store.collections["transfers"].count_documents({"type": "transfer"}) == 2
    check_ledger(store)


def fail_after_writing(monkeypatch, wallet_id):
    """A rule that refuses once the item's postings are written (like a credit-side limit): the
    items posted at once are refused as a whole (TotalRefused), then each alone, after writing."""
    original, at_once = events.new_event, transfers.post_many

    def new_event(event_type, wallet_ids, data, moment):  # made after the item's postings are written
        if data.get("to_wallet_id") == wallet_id:
            raise errors.ReceiverNotFound(f"{wallet_id} refuses money")
        return original(event_type, wallet_ids, data, moment)

    def post_many(tx, movements, moment):
        posted = at_once(tx, movements, moment)
        if any(record["to_wallet_id"] == wallet_id for record, _ in movements):
            raise postings.TotalRefused(f"{wallet_id} refuses money")
        return posted

    monkeypatch.setattr("app.ledger.transfers.events.new_event", new_event)
    monkeypatch.setattr("app.ledger.transfers.post_many", post_many)


def without_savepoints(store, monkeypatch):
    """The unit of work as on MongoDB: no rolling back to a mark once something was written."""
    transaction = store.transaction

    def no_savepoints(work):
        def unit(tx):
            tx.rollback_to = lambda mark: False
            return work(tx)
        return transaction(unit)

    monkeypatch.setattr(store, "transaction", no_savepoints)


@pytest.mark.parametrize("mode", ["atomic", "independent"])
def test_a_credit_side_limit_fails_its_item_after_the_debit_was_written(client, store, trio, mode):
    ada, ada_wallet, _, bob_wallet, _, cy_wallet = trio
    response = client.put(f"/wallets/{cy_wallet}/limits", json={"max_balance": "3.00"},
                          headers={"Authorization": "Bearer test-operator-token"})
    assert response.status_code == 200, response.json
    items = [item(ada_wallet, bob_wallet, "10.00"), item(ada_wallet, cy_wallet, "5.00"),
             item(ada_wallet, cy_wallet, "1.00")]
    results = send(client, ada, mode, items).json["results"]
    assert results[1]["error"]["code"] == "limit_exceeded"
    if mode == "atomic":
        assert [r["error"]["code"] for r in results] == ["batch_failed", "limit_exceeded", "batch_failed"]
        assert wallet(client, ada_wallet)[0] == "100.00"
    else:
        assert [r["status"] for r in results] == ["posted", "failed", "posted"]
        assert wallet(client, ada_wallet)[0] == "89.00" and wallet(client, cy_wallet)[0] == "1.00"
    check_ledger(store)


@pytest.mark.parametrize("savepoints", [True, False], ids=["savepoint", "abort-and-redo"])
def test_an_item_failing_after_it_wrote_is_undone_alone(client, store, trio, monkeypatch, savepoints):
    ada, ada_wallet, _, bob_wallet, _, cy_wallet = trio
    fail_after_writing(monkeypatch, cy_wallet)
    if not savepoints:
        without_savepoints(store, monkeypatch)
    items = [item(ada_wallet, bob_wallet, "10.00"), item(ada_wallet, cy_wallet, "5.00"),
             item(ada_wallet, bob_wallet, "1.00")]
    results = send(client, ada, "independent", items).json["results"]
    assert [r["status"] for r in results] == ["posted", "failed", "posted"]
    assert wallet(client, ada_wallet)[0] == "89.00"
    assert wallet(client, cy_wallet) == ("0.00", "0.00", 0)
    assert wallet(client, bob_wallet) == ("11.00", "11.00", 2)
    check_ledger(store)


def test_whole_request_shape_errors_point_at_each_item(client, trio):
    ada, ada_wallet, _, bob_wallet, _, _ = trio
    items = [item(ada_wallet, bob_wallet, "1.00"), item(ada_wallet, bob_wallet, "1.001"),
             dict(item(ada_wallet, bob_wallet, "1.00"), bogus=1),
             {"to_wallet_id": bob_wallet, "amount": "1.00", "ref": "r" * 65}]
    response = send(client, ada, "sometimes", items)
    assert response.status_code == 400 and response.json["code"] == "validation_failed"
    assert [e["field"] for e in response.json["errors"]] == [
        "/mode", "/transfers/1/amount", "/transfers/2/bogus", "/transfers/3/from_wallet_id",
        "/transfers/3/ref"]
    assert wallet(client, ada_wallet)[0] == "100.00"


@pytest.mark.parametrize("count, status", [(0, 400), (1000, 201), (1001, 400)])
def test_one_to_a_thousand_items(client, store, trio, count, status):
    if count == 1000 and ON_STANDIN and store.engine == "mongodb":
        # mongoeco checks a unique index by scanning the transaction's documents at every
        # insert: the batch takes about 100 s there, far past REQUEST_TIMEOUT_MS (15 s).
        pytest.skip("needs a real replica set: a 1,000-item atomic batch commits within "
                    "REQUEST_TIMEOUT_MS (the stand-in's unique-index checks make it take ~100 s)")
    ada, ada_wallet, _, bob_wallet, _, _ = trio
    response = send(client, ada, "atomic", [item(ada_wallet, bob_wallet, "0.01")] * count)
    assert response.status_code == status
    if status == 400:
        assert [e["field"] for e in response.json["errors"]] == ["/transfers"]
    else:
        assert len(response.json["results"]) == 1000
        assert wallet(client, bob_wallet)[0] == "10.00"
        check_ledger(store)


def test_a_from_wallet_not_the_callers_refuses_the_whole_request(client, store, trio):
    ada, ada_wallet, bob, bob_wallet, _, cy_wallet = trio
    stored = counts(store)
    response = send(client, bob, "independent", [item(bob_wallet, cy_wallet, "1.00"),
                                                 item(ada_wallet, cy_wallet, "1.00")])
    assert (response.status_code, response.json["code"]) == (404, "wallet_not_found")
    assert counts(store) == stored


@pytest.mark.parametrize("mode", ["atomic", "independent"])
def test_a_replay_returns_the_same_results_and_never_flips(api, client, store, trio, mode):
    ada, ada_wallet, _, bob_wallet, _, _ = trio
    items = [item(ada_wallet, bob_wallet, "60.00"), item(ada_wallet, bob_wallet, "60.00")]
    key = {"Idempotency-Key": f"payout-{mode}"}
    first = send(client, ada, mode, items, **key)
    api.deposit(ada_wallet, "500.00")  # now both would fit: the replay must still say what it said
    again = send(client, ada, mode, items, **key)
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    expected = {"atomic": "600.00", "independent": "540.00"}[mode]
    assert wallet(client, ada_wallet)[0] == expected
    reused = send(client, ada, mode, items[:1], **key)
    assert (reused.status_code, reused.json["code"]) == (422, "idempotency_key_reused")


def open_wallets(store, count, cents):
    wallets = []
    for i in range(count):
        result, _ = ledger.create_client(store, f"b{i}@example.com", f"B{i}", "hash")
        ledger.deposit(store, result["wallet"]["_id"], cents)
        wallets.append((result["client"]["_id"], result["wallet"]["_id"]))
    return wallets


def test_batches_and_single_transfers_from_eight_threads_keep_the_books_whole(store):
    wallets = open_wallets(store, 6, 2_000)
    posted = []

    def worker(seed):
        rng = random.Random(seed)
        for _ in range(12):
            owner, source = wallets[rng.randrange(len(wallets))]
            targets = [w for _, w in wallets if w != source]
            if seed % 2:
                items = [{"from_wallet_id": source, "to_wallet_id": rng.choice(targets),
                          "amount_cents": rng.randint(1, 400)} for _ in range(rng.randint(1, 20))]
                batch, _ = ledger.create_batch(store, owner, rng.choice(["atomic", "independent"]), items)
                posted.extend(r for r in batch["results"] if r["status"] == "posted")
            else:
                try:
                    posted.append(ledger.transfer(store, owner, source, rng.choice(targets),
                                                  rng.randint(1, 400))[0])
                except errors.InsufficientFunds:
                    pass

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert check_ledger(store) == 6 * 2_000
    assert store.collections["transfers"].count_documents({"type": "transfer"}) == len(posted) > 0
    assert store.collections["wallets"].count_documents({"available_cents": {"$lt": 0}}) == 0


def test_the_documented_item_codes_are_the_refusals_an_item_can_meet():
    """A refusal added to ITEM_REFUSALS (limit_exceeded, ...) must join the response schema too."""
    schema = json.loads((SCHEMA_DIR / "responses" / "transfer_batch.json").read_text())
    error = schema["properties"]["results"]["items"]["properties"]["error"]["anyOf"][1]
    assert set(error["properties"]["code"]["enum"]) == {cls.code for cls in batches.ITEM_REFUSALS} | {
        batches.BATCH_FAILED["code"]}


def test_items_posted_at_once_journal_as_if_one_by_one(client, store, trio):
    """One write per wallet for the whole batch, yet each item has its own entries, in order:
    seq one apart, balance_after the running balance, as posting them one by one would."""
    ada, ada_wallet, _, bob_wallet, _, cy_wallet = trio
    items = [item(ada_wallet, bob_wallet, "1.00"), item(ada_wallet, cy_wallet, "2.00"),
             item(ada_wallet, bob_wallet, "3.00")]
    assert send(client, ada, "independent", items).status_code == 201
    page = client.get(f"/wallets/{ada_wallet}/operations", headers=ada).json["data"]
    assert [(e["seq"], e["amount"], e["balance_after"]) for e in page] == [
        (4, "-3.00", "94.00"), (3, "-2.00", "97.00"), (2, "-1.00", "99.00"), (1, "100.00", "100.00")]
    assert wallet(client, bob_wallet) == ("4.00", "4.00", 2)
    check_ledger(store)


def test_a_daily_out_count_refuses_the_items_past_it(client, store, trio):
    """The total of the items passes no limit at once: posted one by one, the third is refused."""
    ada, ada_wallet, _, bob_wallet, _, _ = trio
    response = client.put(f"/wallets/{ada_wallet}/limits", json={"daily_out_count": 2},
                          headers={"Authorization": "Bearer test-operator-token"})
    assert response.status_code == 200, response.json
    items = [item(ada_wallet, bob_wallet, "1.00") for _ in range(3)]
    results = send(client, ada, "independent", items).json["results"]
    assert [r["status"] for r in results] == ["posted", "posted", "failed"]
    assert results[2]["error"]["code"] == "limit_exceeded"
    assert wallet(client, ada_wallet)[0] == "98.00"
    check_ledger(store)
