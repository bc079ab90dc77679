"""The one writer of money: a transfer record and its postings, which must sum to zero.

No other code changes ``balance_cents``. ``post`` refuses (UnbalancedPostings, a
LedgerInvariantError that ``python -O`` keeps, as medici refuses an unbalanced journal)
any set of postings that does not balance, before anything is written. Client
wallets are debited only if their available money covers the debit, a guard in the
update filter itself; system accounts are not guarded (the bank goes negative as money comes in).

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
from app.ledger import accounts, entry_types, expiry, limits, monitors, states
from app.ledger.invariants import HeldUnderflow, UnbalancedPostings, require
from app.ledger.units import new_id


@dataclass(frozen=True)
class Posting:
    """One side of a movement: + credits, - debits ``account_id`` (a wallet or a system shard)."""

    account_id: str
    amount_cents: int
    entry_type: str | None = None       # the journal entry type, for a client wallet
    counterparty: str | None = None     # the other wallet, named on the entry
    owner: str | None = None            # a debit: the client the wallet must belong to (a guard)
    from_held_cents: int = 0            # a debit: held money released to available in the same write


class Posted(NamedTuple):
    transfer: dict   # the record as stored, with its postings
    wallets: dict    # wallet id -> the wallet document after the move
    entries: dict    # wallet id -> its new journal entry


def post(tx, transfer, postings, moment, counted=False, returning=False):
    """Apply ``postings`` and write ``transfer`` with them; return what was written (Posted).

    ``transfer`` is the record without postings (``_id``, ``type``, amounts, wallets, and
    ``links``: what caused it, e.g. ``{"hold_id": ...}``, copied onto every entry as it is);
    its ``from_client_id`` and ``to_client_id`` are taken from the wallets as written, so no
    read of their owners comes first. ``counted``: its debits were checked and counted against
    the out limits when the money was reserved (a hold's capture, a withdrawal).
    ``returning``: its credits give back money that left (a returned withdrawal), never
    refused by max_balance. Raises InsufficientFunds (nothing written) when a client wallet's
    available money is short, LimitExceeded when a posting would pass one of the wallet's
    limits, WalletFrozen or WalletClosed when its state refuses the movement
    (app/ledger/states.py), WalletNotFound when a debit's wallet is not its ``owner``'s.
    """
    check_balanced(postings)
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
    record = _posted_record(transfer, postings, after, entries, moment)
    tx.operations.insert_many(entries)
    tx.transfers.insert_one(record)
    return Posted(record, after, {entry["wallet_id"]: entry for entry in entries})


class TotalRefused(Exception):
    """``post_many`` could not post its movements at once: post them one by one instead."""


def post_many(tx, movements, moment):
    """Post wallet-to-wallet ``movements`` [(transfer, postings)] with one guarded ``$inc`` per
    wallet for all its postings, and one insert per collection; the Posted of each, in order.

    The same as posting them one by one, in order, when no wallet is both debited and
    credited: then every running sum lies between 0 and the total, so each guard (available
    money, per_transfer_max against the largest debit, max_balance, the daily out limits)
    that holds for the total holds at each step. TotalRefused (the unit must be undone: a
    wallet may have been written) when a guard of a total refuses, or when a wallet is on
    both sides; posted one by one, the movements then say which is refused and why.
    """
    by_account = {}
    for transfer, postings in movements:
        check_balanced(postings)
        for posting in postings:
            by_account.setdefault(posting.account_id, []).append(posting)
    signs = {account: {p.amount_cents > 0 for p in ps} for account, ps in by_account.items()}
    if any(len(sign) > 1 or accounts.is_system(account) for account, sign in signs.items()):
        raise TotalRefused("a wallet is debited and credited, or a system account is moved")
    # Debits first, as in ``post``: a refusal comes before the credits are written.
    ordered = sorted(by_account, key=lambda account: True in signs[account])
    running = {account: _move_total(tx, account, by_account[account], moment) for account in ordered}
    entries = [[_entry(running[p.account_id].step(p.amount_cents), p, transfer, moment) for p in postings]
               for transfer, postings in movements]
    records = [_posted_record(transfer, postings, running, its_entries, moment)
               for (transfer, postings), its_entries in zip(movements, entries)]
    tx.operations.insert_many([entry for its_entries in entries for entry in its_entries])
    tx.transfers.insert_many(records)
    return [Posted(record, {}, {entry["wallet_id"]: entry for entry in its_entries})
            for record, its_entries in zip(records, entries)]


def _move_total(tx, account_id, postings, moment):
    """``$inc`` one wallet by all its ``postings`` at once; a view of it before them that
    ``_entry`` steps through (``_Running``). TotalRefused if a guard of the total refuses."""
    total = sum(p.amount_cents for p in postings)
    # The state is a clause here too: a frozen or closed wallet refuses the total, and the
    # movements posted one by one then say which is refused and why.
    wallet_filter = {"_id": account_id, "status": _status_guard(total, counted=False)}
    if postings[0].owner is not None:
        wallet_filter["client_id"] = postings[0].owner
    if total < 0:
        wallet_filter["available_cents"] = {"$gte": -total}
        wallet_filter.update(limits.debit_guard(max(-p.amount_cents for p in postings)))
    else:
        wallet_filter.update(limits.credit_guard(total))
    wallet = tx.wallets.find_one_and_update(
        wallet_filter, {"$inc": {"balance_cents": total, "available_cents": total,
                                 "version": len(postings)}, "$set": {"updated_at": moment}},
        return_document=ReturnDocument.AFTER)
    if wallet is None:
        raise TotalRefused(f"wallet {account_id} refused {total} cents at once")
    if total < 0:
        try:
            limits.charge_out(tx, wallet, -total, moment, count=len(postings))
        except errors.LimitExceeded:
            raise TotalRefused(f"wallet {account_id}'s daily out limits refused the total") from None
    monitors.check(tx, wallet, moment)  # on the wallet after the whole batch's movements
    return _Running(wallet, total, len(postings))


class _Running(dict):
    """A wallet moved by several postings at once, read as it was after each in turn: every
    ``_entry`` made from it takes the next ``version`` and ``balance_cents``."""

    def __init__(self, wallet, total, count):
        super().__init__(wallet)
        self._version, self._balance = wallet["version"] - count, wallet["balance_cents"] - total

    def step(self, amount_cents):
        self._version += 1
        self._balance += amount_cents
        return dict(self, version=self._version, balance_cents=self._balance)


def _posted_record(transfer, postings, after, entries, moment):
    """The transfer as stored: its owners from the wallets as written, its postings and entries."""
    by_account = {entry["wallet_id"]: entry for entry in entries}
    owners = {side: after[transfer[f"{side}_wallet_id"]]["client_id"] for side in ("from", "to")
              if transfer.get(f"{side}_wallet_id") in after}
    record = dict(transfer, **{f"{side}_client_id": owner for side, owner in owners.items()})
    record.update(status="posted", created_at=moment, postings=[
        {"account_id": p.account_id, "amount_cents": p.amount_cents,
         "entry_id": by_account[p.account_id]["_id"] if p.account_id in by_account else None}
        for p in postings])
    return record


def check_balanced(postings):
    """Raise UnbalancedPostings (or an entry type's refusal) unless ``postings`` may be posted."""
    require(len(postings) >= 2, UnbalancedPostings, "a movement needs two postings or more")
    require(sum(p.amount_cents for p in postings) == 0, UnbalancedPostings,
            f"{[(p.account_id, p.amount_cents) for p in postings]} do not sum to zero")
    require(all(isinstance(p.amount_cents, int) and p.amount_cents != 0 for p in postings),
            UnbalancedPostings, "every posting moves a whole, non-zero number of cents")
    touched = [p.account_id for p in postings]
    require(len(set(touched)) == len(touched), UnbalancedPostings, f"{touched} repeats an account")
    for p in postings:
        if not accounts.is_system(p.account_id):
            entry_types.check(p.entry_type, p.amount_cents)


def _status_guard(amount_cents, counted):
    """The wallet states a movement of ``amount_cents`` may not meet (a clause of its update)."""
    return {"$nin": list(states.REFUSING_DEBITS if amount_cents < 0 and not counted
                         else states.REFUSING_ALL)}


def _move_wallet(tx, posting, moment, counted=False, returning=False):
    """``$inc`` one client wallet; a debit only while its available money and limits allow it.

    ``counted``: the debit was already checked and counted against the out limits (a hold, a
    withdrawal). ``returning``: a credit that gives back money that left (no max_balance).
    ``posting.from_held_cents``: held money released to available by the same write, as if
    released just before the debit (a capture pays from its hold), guarded on held."""
    amount, released = posting.amount_cents, posting.from_held_cents
    # The wallet's state is a clause of the same update: a freeze racing this debit has one order.
    # A counted debit pays out money reserved before a freeze (a capture, a settled withdrawal).
    wallet_filter = {"_id": posting.account_id, "status": _status_guard(amount, counted)}
    if posting.owner is not None:
        wallet_filter["client_id"] = posting.owner
    if amount < 0:
        wallet_filter["available_cents"] = {"$gte": -amount - released}
        if not counted:
            wallet_filter.update(limits.debit_guard(-amount))
    elif not returning:
        wallet_filter.update(limits.credit_guard(amount))
    update = {"$inc": {"balance_cents": amount, "available_cents": amount + released, "version": 1},
              "$set": {"updated_at": moment}}
    if released:
        wallet_filter["held_cents"] = {"$gte": released}
        update["$inc"]["held_cents"] = -released
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
    monitors.check(tx, wallet, moment)
    return wallet


def _refusal(tx, posting):
    """Why the guarded update of ``posting`` matched nothing (read only after it failed)."""
    wallet = tx.wallets.find_one({"_id": posting.account_id}, {
        "limits": 1, "balance_cents": 1, "client_id": 1, "status": 1, "held_cents": 1})
    if posting.owner is not None and (wallet is None or wallet["client_id"] != posting.owner):
        return errors.WalletNotFound(f"you have no wallet {posting.account_id}")
    require(wallet is None or wallet.get("held_cents", 0) >= posting.from_held_cents, HeldUnderflow,
            f"wallet {posting.account_id} holds less than {posting.from_held_cents} cents")
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
