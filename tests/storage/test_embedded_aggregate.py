"""The audit's read-only view of the embedded engine: aggregate answers what mongomock answers,
find honours its projection, and the view never writes to the stored documents."""
import copy
import random

import pytest
from mongomock.aggregate import process_pipeline

from app.audit import journal as audit_journal
from app.storage.embedded import engine as embedded
from app.storage.embedded.scan import ReadOnlyScan
from app.storage.embedded import group as embedded_group
from app.ledger.entry_types import ENTRY_TYPES

ODD = {  # every value a corrupted journal might hold where the audit's pipelines look
    "wallet_id": ["w1", "w2", "w10", "", None],
    "seq": [1, 2, 2, 3, 7, None, 2.0],
    "type": [*ENTRY_TYPES, "gift", None, 5],
    "amount_cents": [-300, -1, 0, 1, 300, None, True, "7", 2.5],
    "balance_after_cents": [-1, 0, 5, 700, None, "x", False],
}


def journal(seed, count=400):
    """Entries with random odd values, a field now and then left out."""
    rng = random.Random(seed)
    entries = []
    for i in range(count):
        entry = {"_id": f"op{i:04d}", **{name: rng.choice(values) for name, values in ODD.items()}}
        for name in ODD:
            if rng.random() < 0.04:
                del entry[name]
        entries.append(entry)
    return entries


def view_of(entries, unique=False):
    """The audit's view of an operations collection holding ``entries`` (copies)."""
    _, collections = embedded.open_database("t", ["operations"])
    operations = collections["operations"]
    if unique:
        operations.create_index([("wallet_id", 1), ("seq", 1)], unique=True)
    for entry in entries:
        operations.insert_one(copy.deepcopy(entry))
    return ReadOnlyScan(operations)


@pytest.mark.parametrize("pipeline", [audit_journal.SUMMARY_PIPELINE, audit_journal.EXACT_SUMMARY_PIPELINE],
                         ids=["summary", "exact"])
@pytest.mark.parametrize("seed", range(6))
def test_aggregate_answers_what_mongomock_answers(pipeline, seed):
    entries = journal(seed)
    view = view_of(entries)  # repeated seqs: the unique index would refuse them
    assert list(view.aggregate(pipeline, allowDiskUse=True)) == list(
        process_pipeline(copy.deepcopy(entries), None, pipeline, None))


def test_the_summary_group_runs_compiled_not_in_mongomock():
    """The speed of the embedded audit rests on this: a fallback would be silent but slow."""
    (group_stage,) = [stage["$group"] for stage in audit_journal.SUMMARY_PIPELINE if "$group" in stage]
    entries = [entry for entry in journal(1) if isinstance(entry.get("wallet_id"), str)]
    assert embedded_group.group(entries, group_stage) == list(
        process_pipeline(entries, None, [{"$group": group_stage}], None))
    assert embedded_group.group(entries, {"_id": "$wallet_id", "n": {"$sum": {"$not": [1]}}}) is None
    assert embedded_group.group(entries, {"_id": "$seq", "n": {"$sum": 1}}) is None  # numbers as keys


def test_aggregate_leaves_the_stored_documents_alone_and_refuses_stages_that_write():
    entries = journal(2)
    view = view_of(entries)
    list(view.aggregate(audit_journal.EXACT_SUMMARY_PIPELINE))
    list(view.aggregate(audit_journal.SUMMARY_PIPELINE))
    assert list(view.find().sort("_id", 1)) == entries
    for stage in ({"$project": {"x": 1}}, {"$addFields": {"x": 1}}, {"$out": "elsewhere"}):
        with pytest.raises(NotImplementedError, match="leave their input alone"):
            view.aggregate([stage])


def test_find_keeps_only_the_projected_fields():
    entries = journal(3, count=50)
    view = view_of([entry for entry in entries if entry.get("wallet_id") != "w1"] + [
        {"_id": "op_w1", "wallet_id": "w1", "seq": 99, "type": "deposit", "details": {"big": 1}}])
    (found,) = list(view.find({"wallet_id": "w1"}, ("_id", "type", "amount_cents")))
    assert found == {"_id": "op_w1", "type": "deposit"}
    assert list(view.find({"wallet_id": "w1"}, {"_id": 0, "seq": 1})) == [{"seq": 99}]
    with pytest.raises(NotImplementedError):
        view.find({}, {"postings.amount_cents": 1})


def test_index_information_is_the_collections():
    assert audit_journal.seq_is_unique(view_of([], unique=True))
    assert not audit_journal.seq_is_unique(view_of([]))
