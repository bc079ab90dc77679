"""The one writer of money: a transfer record and its postings, which must sum to zero.

No other code changes ``balance_cents``. ``post`` refuses (AssertionError naming the
rule, as medici refuses an unbalanced journal) any set of postings that does not
balance, before anything is written. Client wallets are debited only if their
available money covers the debit, a guard in the update filter itself; system
accounts are not guarded (the bank goes negative as money comes in).

Limits (app/ledger/limits.py) are enforced here too, for every client wallet:
per_transfer_max and max_balance as clauses of the same update filter, the daily
out limits by a guarded ``$inc`` of the wallet's usage document right after its debit.

Order of writes: guarded debits first, so a refusal happens before any write;
then system shards; the credited wallets last, so the document most likely to be
hot (a receiver many pay) is held for the shortest time. All journal entries go
in one ``insert_many``. When a debit is refused, the wallet's holds that have expired
are released in the same unit (``expiry.expire_due``) and the debit is tried once more,
so expiry never blocks money, and a debit that passes pays no extra read.
"""
from dataclasses import dataclass
from typing import NamedTuple

from pymongo import ReturnDocument

from app import errors
from app.ledger import accounts, entry_types, expiry, limits, states
from app.ledger.units import new_id


@dataclass(frozen=True)
class Posting:
    """One side of a movement: + credits, - debits ``account_id`` (a wallet or a system shard)."""

    account_id: str
    amount_cents: int
    entry_type: str | None = None       # the journal entry type, for a client wallet
    counterparty: str | None = None     # the other wallet, named on the entry


class Posted(NamedTuple):
    transfer: dict   # the record as stored, with its postings
    wallets: dict    # wallet id -> the wallet document after the move
    entries: dict    # wallet id -> its new journal entry


def post(tx, transfer, postings, moment, counted=False, returning=False):
    """Apply ``postings`` and write ``transfer`` with them; return what was written (Posted).

    ``transfer`` is the record without postings (``_id``, ``type``, amounts, parties, and
    ``links``: what caused it, e.g. ``{"hold_id": ...}``, copied onto every entry as it is).
    ``counted``: its debits were checked and counted against the out limits when the money
    was reserved (a hold's capture, a withdrawal). ``returning``: its credits give back money
    that left (a returned withdrawal), never refused by max_balance.
    Raises InsufficientFunds (nothing written) when a client wallet's available money
    is short, LimitExceeded when a posting would pass one of the wallet's limits.
    """
    _assert_balanced(postings)
    wallets = [p for p in postings if not accounts.is_system(p.account_id)]
    ordered = ([p for p in wallets if p.amount_cents < 0]
               + [p for p in postings if accounts.is_system(p.account_id)]
               + [p for p in wallets if p.amount_cents > 0])
    after, entries = {}, []
    for posting in ordered:
        if accounts.is_system(posting.account_id):
            accounts.move_system(tx, posting.account_id, posting.amount_cents, moment)
            continue
        wallet = _move_wallet(tx, posting, moment, counted=counted, returning=returning)
        after[posting.account_id] = wallet
        entries.append(_entry(wallet, posting, transfer, moment))
    by_account = {entry["wallet_id"]: entry for entry in entries}
    record = dict(transfer, status="posted", created_at=moment, postings=[
        {"account_id": p.account_id, "amount_cents": p.amount_cents,
         "entry_id": by_account[p.account_id]["_id"] if p.account_id in by_account else None}
        for p in postings])
    tx.operations.insert_many(entries)
    tx.transfers.insert_one(record)
    return Posted(record, after, by_account)


def _assert_balanced(postings):
    assert len(postings) >= 2, "postings_must_balance: a movement needs two postings or more"
    assert sum(p.amount_cents for p in postings) == 0, (
        f"postings_must_balance: {[(p.account_id, p.amount_cents) for p in postings]} "
        "do not sum to zero")
    assert all(isinstance(p.amount_cents, int) and p.amount_cents != 0 for p in postings), (
        "postings_must_balance: every posting moves a whole, non-zero number of cents")
    touched = [p.account_id for p in postings]
    assert len(set(touched)) == len(touched), f"postings_must_balance: {touched} repeats an account"
    for p in postings:
        if not accounts.is_system(p.account_id):
            entry_types.check(p.entry_type, p.amount_cents)


def _move_wallet(tx, posting, moment, counted=False, returning=False):
    """``$inc`` one client wallet; a debit only while its available money and limits allow it.

    ``counted``: the debit was already checked and counted against the out limits (a hold, a
    withdrawal). ``returning``: a credit that gives back money that left (no max_balance)."""
    amount = posting.amount_cents
    # The wallet's state is a clause of the same update: a freeze racing this debit has one order.
    # A counted debit pays out money reserved before a freeze (a capture, a settled withdrawal).
    wallet_filter = {"_id": posting.account_id,
                     "status": {"$nin": list(states.REFUSING_DEBITS if amount < 0 and not counted
                                             else states.REFUSING_ALL)}}
    if amount < 0:
        wallet_filter["available_cents"] = {"$gte": -amount}
        if not counted:
            wallet_filter.update(limits.debit_guard(-amount))
    elif not returning:
        wallet_filter.update(limits.credit_guard(amount))
    update = {"$inc": {"balance_cents": amount, "available_cents": amount, "version": 1},
              "$set": {"updated_at": moment}}
    wallet = tx.wallets.find_one_and_update(wallet_filter, update, return_document=ReturnDocument.AFTER)
    if wallet is None and amount < 0 and expiry.expire_due(tx, posting.account_id, moment):
        # Refused, but some of its holds had expired: released now, in this unit, the same
        # guarded debit may pass. Only a refused debit pays for this read.
        wallet = tx.wallets.find_one_and_update(wallet_filter, update,
                                                return_document=ReturnDocument.AFTER)
    if wallet is None:
        raise _refusal(tx, posting)
    if amount < 0 and not counted:
        try:
            limits.charge_out(tx, wallet, -amount, moment)
        except errors.LimitExceeded:
            if not expiry.expire_due(tx, posting.account_id, moment):
                raise
            limits.charge_out(tx, wallet, -amount, moment)  # expired holds gave their room back
    return wallet


def _refusal(tx, posting):
    """Why the guarded update of ``posting`` matched nothing (read only after it failed)."""
    wallet = tx.wallets.find_one({"_id": posting.account_id},
                                 {"limits": 1, "balance_cents": 1, "status": 1})
    if wallet is not None and (broken := states.refusal(wallet, posting.amount_cents)):
        return broken
    if wallet is not None and (broken := limits.refusal(wallet, posting.amount_cents)):
        return broken
    if posting.amount_cents < 0:
        return errors.InsufficientFunds(
            f"wallet {posting.account_id} has less available money than the amount")
    return errors.ReceiverNotFound(f"no wallet {posting.account_id}")


def _entry(wallet, posting, transfer, moment):
    """The journal entry for a wallet just moved by ``$inc`` (its new version is the seq)."""
    entry = {
        "_id": new_id("op"), "wallet_id": wallet["_id"], "seq": wallet["version"],
        "type": posting.entry_type, "amount_cents": posting.amount_cents,
        "balance_after_cents": wallet["balance_cents"],
        "counterparty_wallet_id": posting.counterparty, "transfer_id": transfer["_id"],
        "details": transfer.get("details"), "created_at": moment,
    }
    if transfer.get("links"):  # what caused the movement, whatever feature it belongs to
        entry["links"] = dict(transfer["links"])
    return entry
