"""The journal as the audit reads it: one summary per wallet, computed by the database.

One aggregation on ``operations`` sorts the entries by ``(wallet_id, seq)`` (a walk
of the unique index) and groups them by wallet: entries, distinct seqs, first and
last seq, sum, last ``balance_after``, money deposited and the number of *suspect*
entries, those that may break a per-entry rule. With the unique index a wallet
cannot repeat a seq, so entries count seqs. Without it (lost, as
tests/support/corruptions.py pretends) a two-level group counts the distinct seqs exactly.
The same pipelines run on both engines (the embedded one in app/storage/embedded/scan.py).
"""
from dataclasses import dataclass

from app.ledger.entry_types import CREDIT, ENTRY_TYPES

# Where a summary says an entry may break a per-entry rule (no_negative_balance,
# entry_type_known); only such wallets' entries are read one by one. For integer amounts and
# balances it flags exactly the entries app.audit's _check_entry flags: a type outside the list for its
# amount's sign is unknown or of the wrong sign. No $not: mongomock reads {"$not": [x]} as
# "not a non-empty list", always false.
_TYPES_BY_SIGN = {credit: [name for name, kind in ENTRY_TYPES.items() if (kind.sign == CREDIT) == credit]
                  for credit in (True, False)}
_SUSPECT = {"$cond": [{"$and": [
    {"$gte": ["$balance_after_cents", 0]},
    {"$in": ["$type", {"$cond": [{"$gt": ["$amount_cents", 0]}, _TYPES_BY_SIGN[True],
                                 _TYPES_BY_SIGN[False]]}]}]}, 0, 1]}
# Sums over entries; the exact pipeline adds them up again over its (wallet_id, seq) groups.
_SUMS = {
    "entries": {"$sum": 1},
    "sum_cents": {"$sum": "$amount_cents"},
    "deposited_cents": {"$sum": {"$cond": [{"$eq": ["$type", "deposit"]}, "$amount_cents", 0]}},
    "suspect": {"$sum": _SUSPECT},
}
_IN_SEQ_ORDER = {"$sort": {"wallet_id": 1, "seq": 1}}  # the unique index's order: no sort in memory
# With the unique (wallet_id, seq) index each entry has a seq of its own: entries count seqs.
SUMMARY_PIPELINE = [_IN_SEQ_ORDER, {"$group": {
    "_id": "$wallet_id", **_SUMS, "distinct_seqs": {"$sum": 1}, "first_seq": {"$min": "$seq"},
    "last_seq": {"$max": "$seq"}, "last_balance_cents": {"$last": "$balance_after_cents"}}},
    {"$sort": {"_id": 1}}]
# Without it, one group per (wallet_id, seq) first: counting those groups counts distinct seqs.
# Which of two entries sharing a seq gives last_balance_cents is unspecified, as it was when
# the journal was streamed (their seq is a violation either way).
EXACT_SUMMARY_PIPELINE = [
    {"$group": {"_id": {"wallet_id": "$wallet_id", "seq": "$seq"}, **_SUMS,
                "last_balance_cents": {"$last": "$balance_after_cents"}}},
    {"$sort": {"_id.wallet_id": 1, "_id.seq": 1}},
    {"$group": {"_id": "$_id.wallet_id", **{name: {"$sum": f"${name}"} for name in _SUMS},
                "distinct_seqs": {"$sum": 1}, "first_seq": {"$min": "$_id.seq"},
                "last_seq": {"$max": "$_id.seq"},
                "last_balance_cents": {"$last": "$last_balance_cents"}}},
    {"$sort": {"_id": 1}}]
SEQ_INDEX_KEY = [("wallet_id", 1), ("seq", 1)]


@dataclass
class Journal:
    """One wallet's journal, as the database summarised it (all 0 for a wallet without entries)."""

    entries: int = 0
    distinct_seqs: int = 0
    sum_cents: int = 0
    first_seq: int = 0
    last_seq: int = 0
    last_balance_cents: int = 0
    deposited_cents: int = 0
    suspect: int = 0

    @classmethod
    def of(cls, summary):
        """The summary the database sent (None: a wallet without entries)."""
        if summary is None:
            return cls()
        return cls(**{name: summary[name] for name in cls.__dataclass_fields__})


def seq_is_unique(operations):
    """Whether the unique index on (wallet_id, seq) is there (then no wallet can repeat a seq)."""
    return any(index.get("unique") and [(field, int(direction)) for field, direction in index["key"]]
               == SEQ_INDEX_KEY for index in operations.index_information().values())


def summaries(db, batch_size):
    """One summary per wallet_id of the journal, in wallet_id order, computed by the database."""
    if seq_is_unique(db.operations):  # hint: the sort is the index's walk, never one in memory
        return db.operations.aggregate(SUMMARY_PIPELINE, allowDiskUse=True, batchSize=batch_size,
                                       hint=dict(SEQ_INDEX_KEY))
    return db.operations.aggregate(EXACT_SUMMARY_PIPELINE, allowDiskUse=True, batchSize=batch_size)
