"""Statements: where a period starts and ends in a wallet's journal, and reading it in batches.

No Flask here. A statement is fixed when the request starts: the wallet's
``version`` as read then bounds every query, so transfers that commit while
the statement streams do not appear in it, and no snapshot is held open
(the journal is append-only: entries up to ``version`` never change).

The period [from, to) is cut at two seqs. ``entries_before(t)`` is the number
of leading entries created before ``t``: a binary search over seq for the first
entry whose created_at is at or after ``t``. The statement holds the entries
``entries_before(from) + 1 .. entries_before(to)`` and its opening balance is
the ``balance_after`` of entry ``entries_before(from)`` (0 before the first),
so opening + in - out = closing holds by construction. When created_at grows
with seq this is exactly "created at or after from and before to". Under
concurrent writers created_at can step back by a few ms between neighbouring
seqs; the binary search still gives a cut that never moves back as ``t`` grows,
so consecutive periods [a, b) and [b, c) share their boundary seq: no entry is
in two statements or in none.
"""
from datetime import timedelta

from pymongo import ASCENDING

from app.ledger.invariants import PeriodOutOfOrder, require
from app.ledger.transfers import with_transfer_metadata
from reports import Statement

BATCH_SIZE = 1000


def plan(store, wallet, start=None, end=None):
    """The Statement of ``wallet`` (as read, at its ``version``) for [start, end)."""
    wallet_id, version = wallet["_id"], wallet["version"]

    def read(db):
        opening_seq = 0 if start is None else entries_before(db, wallet_id, start, version)
        closing_seq = version if end is None else entries_before(db, wallet_id, end, version)
        return opening_seq, closing_seq, _balance_after(db, wallet_id, opening_seq)

    opening_seq, closing_seq, opening_cents = store.read(read)
    # start <= end and the cut is monotone
    require(opening_seq <= closing_seq, PeriodOutOfOrder,
            f"opening seq {opening_seq} > closing seq {closing_seq}")
    return Statement(wallet_id=wallet_id, client_id=wallet["client_id"],
                     currency=wallet["currency"], version=version, period_from=start,
                     period_to=end, opening_seq=opening_seq, closing_seq=closing_seq,
                     opening_balance_cents=opening_cents)


def balance_as_of(store, wallet, moment=None, seq=None):
    """(seq, balance_cents, created_at or None) right after the last entry at or before
    ``moment`` (entries created at that very millisecond count) or at or before ``seq``.

    The cut is the statement's own: the entries before ``moment`` + 1 ms, so this is the
    opening balance of the statement from ``moment`` + 1 ms (and from ``moment`` itself
    when no entry was created at that millisecond)."""
    wallet_id, version = wallet["_id"], wallet["version"]

    def read(db):
        if seq is not None:
            cut = min(seq, version)
        else:
            cut = entries_before(db, wallet_id, next_millisecond(moment), version)
        if cut == 0:
            return 0, 0, None
        entry = _entry(db, wallet_id, cut, {"balance_after_cents": 1, "created_at": 1})
        return cut, entry["balance_after_cents"], entry["created_at"]

    return store.read(read)


def next_millisecond(moment):
    """The first millisecond after ``moment``: journal times are whole milliseconds.
    OverflowError when there is none (9999-12-31T23:59:59.999 is the last)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000) + timedelta(milliseconds=1)


def entries_before(db, wallet_id, moment, version):
    """How many of the entries 1..version come before ``moment`` (binary search on seq)."""
    low, high = 1, version + 1
    while low < high:
        middle = (low + high) // 2
        if _entry(db, wallet_id, middle, {"created_at": 1})["created_at"] >= moment:
            high = middle
        else:
            low = middle + 1
    return low - 1


def journal(store, wallet_id, after_seq, through_seq, batch_size=None):
    """Entries after_seq < seq <= through_seq in seq order; each batch is one short read."""
    batch_size = batch_size or BATCH_SIZE
    for low in range(after_seq, through_seq, batch_size):
        high = min(low + batch_size, through_seq)
        yield from store.read(lambda db, low=low, high=high: _batch(db, wallet_id, low, high))


def _batch(db, wallet_id, low, high):
    # seq has no gaps, so the range (low, high] holds exactly high - low entries: no skip or
    # limit is needed, and both engines read only those (the (wallet_id, seq) index).
    cursor = db.operations.find({"wallet_id": wallet_id, "seq": {"$gt": low, "$lte": high}})
    return with_transfer_metadata(db, list(cursor.sort("seq", ASCENDING).batch_size(high - low)))


def _balance_after(db, wallet_id, seq):
    return 0 if seq == 0 else _entry(db, wallet_id, seq, {"balance_after_cents": 1})["balance_after_cents"]


def _entry(db, wallet_id, seq, projection):
    entry = db.operations.find_one({"wallet_id": wallet_id, "seq": seq}, projection)
    if entry is None:
        raise LookupError(f"the journal of {wallet_id} has no seq {seq} below its version")
    return entry
