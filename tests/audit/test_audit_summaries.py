"""The audit asks the database for one summary per wallet, not for the journal entry by entry.

Each test spies on the operations collection of the audit's snapshot view (on either
engine) and reads back what the audit asked of it.
"""
import random

import pytest

from app import audit
from app.audit import journal as audit_journal
from tests.support.corruptions import build_world, entry_without_wallet, negative_balance_after, seq_repeated

JOURNAL_ORDER = ([("wallet_id", 1), ("seq", 1)],)
LEG_WALKS = [{"transfer_id": None}, {"transfer_id": {"$gt": ""}}]


class _Cursor:
    def __init__(self, cursor, call):
        self._cursor, self._call = cursor, call

    def sort(self, *args):
        self._call["sort"] = args
        self._cursor = self._cursor.sort(*args)
        return self

    def batch_size(self, count):
        self._cursor = self._cursor.batch_size(count)
        return self

    def __iter__(self):
        return iter(self._cursor)


class _Spy:
    """The view's operations collection, recording each find and aggregate."""

    def __init__(self, collection, calls):
        self._collection, self._calls = collection, calls

    def find(self, filter=None, projection=None):
        self._calls.append({"op": "find", "filter": filter, "projection": projection})
        found = self._collection.find(*[filter] + ([projection] if projection is not None else []))
        return _Cursor(found, self._calls[-1])

    def aggregate(self, pipeline, **options):
        self._calls.append({"op": "aggregate", "pipeline": pipeline, "options": options})
        return self._collection.aggregate(pipeline, **options)

    def index_information(self):
        return self._collection.index_information()


@pytest.fixture
def calls(store, monkeypatch):
    """What each audit of ``store`` asks of its operations collection, in order."""
    asked, snapshot = [], store.snapshot

    def spied(work):
        def run(db):
            db.operations = _Spy(db.operations, asked)
            return work(db)
        return snapshot(run)

    monkeypatch.setattr(store, "snapshot", spied)
    return asked


def finds(calls):
    return [call["filter"] for call in calls if call["op"] == "find"]


def test_healthy_books_read_summaries_and_legs_never_the_journal_by_wallet(store, calls):
    build_world(store)
    report = audit.verify(store)
    assert report.ok and report.entries == 6
    (aggregate,) = [call for call in calls if call["op"] == "aggregate"]
    assert aggregate["pipeline"] == audit_journal.SUMMARY_PIPELINE
    assert aggregate["options"]["allowDiskUse"] is True
    assert finds(calls) == LEG_WALKS  # no find() of the whole journal, none by wallet
    assert all(call.get("sort") != JOURNAL_ORDER for call in calls)
    assert all(call["projection"] for call in calls if call["op"] == "find")


def test_only_a_wallet_with_a_suspect_entry_has_its_entries_read(store, calls):
    world = build_world(store)
    expected = negative_balance_after(world)
    assert {(v["rule"], v["id"]) for v in audit.verify(store).violations} == expected
    assert finds(calls) == [{"wallet_id": world.a}] + LEG_WALKS


def test_an_orphan_wallet_id_has_its_entries_read_to_name_them(store, calls):
    world = build_world(store)
    expected = entry_without_wallet(world)
    assert {(v["rule"], v["id"]) for v in audit.verify(store).violations} == expected
    assert finds(calls) == [{"wallet_id": "wal_ghost"}] + LEG_WALKS


def test_without_the_unique_index_the_exact_pipeline_counts_distinct_seqs(store, calls):
    world = build_world(store)
    expected = seq_repeated(world)  # drops the index: a's seqs are 1, 1, 3
    assert {(v["rule"], v["id"]) for v in audit.verify(store).violations} == expected
    (aggregate,) = [call for call in calls if call["op"] == "aggregate"]
    assert aggregate["pipeline"] == audit_journal.EXACT_SUMMARY_PIPELINE
    summaries = {s["_id"]: s for s in store.snapshot(lambda db: list(audit_journal.summaries(db, 10)))}
    assert (summaries[world.a]["entries"], summaries[world.a]["distinct_seqs"]) == (3, 2)


def test_both_pipelines_summarise_a_journal_alike_when_seqs_do_not_repeat(store):
    build_world(store)
    both = store.snapshot(lambda db: [list(db.operations.aggregate(pipeline)) for pipeline in (
        audit_journal.SUMMARY_PIPELINE, audit_journal.EXACT_SUMMARY_PIPELINE)])
    assert both[0] == both[1] and len(both[0]) == 2


@pytest.mark.parametrize("seed", range(5))
def test_the_exact_pipeline_counts_what_python_counts(store, seed):
    """Random journals with repeats and gaps, no unique index: every figure as a walk finds it."""
    rng = random.Random(seed)
    operations = store.collections["operations"]
    operations.drop_index("wallet_id_1_seq_1")
    journals = {f"wal_{i}": sorted(rng.choices(range(1, 9), k=rng.randint(1, 12))) for i in range(6)}
    for wallet_id, seqs in journals.items():
        operations.insert_many([{"_id": f"op_{wallet_id}_{n}", "wallet_id": wallet_id, "seq": seq,
                                 "type": "deposit", "amount_cents": seq, "balance_after_cents": seq}
                                for n, seq in enumerate(seqs)])
    found = store.snapshot(lambda db: list(audit_journal.summaries(db, 4)))
    assert [(s["_id"], s["entries"], s["distinct_seqs"], s["first_seq"], s["last_seq"], s["sum_cents"],
             s["last_balance_cents"], s["deposited_cents"]) for s in found] == [
        (wallet_id, len(seqs), len(set(seqs)), seqs[0], seqs[-1], sum(seqs), seqs[-1], sum(seqs))
        for wallet_id, seqs in sorted(journals.items())]
