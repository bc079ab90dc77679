"""Wallet states: ``active`` -> ``frozen`` -> ``active`` (no money leaves a frozen wallet), and
``active`` or ``frozen`` -> ``closed`` for good (nothing comes in or leaves).

The state is a field of the wallet document, and every movement's guarded update carries it
as a clause (app/ledger/postings.py, accounts.reserve): a freeze and a debit both write the
wallet document, so on MongoDB one of them aborts and runs again after the other, and on the
embedded engine units run one at a time. Either the debit happened before the freeze, or it
is refused after it; never both. A wallet made before states existed has no ``status``: active.
"""
from pymongo import ReturnDocument

from app import errors, render
from app.ledger import admin_log, events, units

ACTIVE, FROZEN, CLOSED = "active", "frozen", "closed"
STATUSES = (ACTIVE, FROZEN, CLOSED)
REFUSING_DEBITS = (FROZEN, CLOSED)  # a debit's update matches none of these
REFUSING_ALL = (CLOSED,)            # a credit's (or a counted debit's) matches not this one
# target status -> the statuses it may follow (a missing status reads as active)
TRANSITIONS = {FROZEN: (ACTIVE, None), ACTIVE: (FROZEN,), CLOSED: (ACTIVE, FROZEN, None)}


def status_of(wallet):
    return wallet.get("status") or ACTIVE


def refusal(wallet, amount_cents):
    """The state error a movement of ``amount_cents`` meets on ``wallet`` (None if none)."""
    if wallet is None:
        return None
    status = status_of(wallet)
    if status == CLOSED:
        return errors.WalletClosed(f"wallet {wallet['_id']} is closed")
    if status == FROZEN and amount_cents < 0:
        return errors.WalletFrozen(f"wallet {wallet['_id']} is frozen")
    return None


def touch_open(tx, wallet_ids, moment, missing=None):
    """Write each wallet while it is not closed (else WalletClosed): a unit that starts something
    pending for a wallet (a payment request, a hold it is to receive) writes it, so a close
    racing that unit conflicts with it (see ``_check_empty``). The wallets as they were before.
    ``missing``: the error for a wallet that does not exist (read only when the write failed)."""
    touched = []
    for wallet_id in wallet_ids:
        wallet = tx.wallets.find_one_and_update({"_id": wallet_id, "status": {"$ne": CLOSED}},
                                                {"$set": {"updated_at": moment}})
        if wallet is None:
            if missing is not None and tx.wallets.find_one({"_id": wallet_id}, {"_id": 1}) is None:
                raise missing(f"no wallet {wallet_id}")
            raise errors.WalletClosed(f"wallet {wallet_id} is closed")
        touched.append(wallet)
    return touched


def change(store, wallet_id, status, reason=None):
    """Move a wallet to ``status`` with its event, in one unit; the wallet after."""
    def work(tx):
        moment = units.now()
        wallet = tx.wallets.find_one({"_id": wallet_id})
        if wallet is None:
            raise errors.WalletNotFound(f"no wallet {wallet_id}")
        allowed = [s for s in TRANSITIONS[status] if s is not None]
        guard = {"$in": allowed} if None not in TRANSITIONS[status] else {"$in": [*allowed, None]}
        query = {"_id": wallet_id, "status": guard}
        if status == CLOSED:
            _check_empty(tx, wallet, moment)
            # The money clauses in the filter itself: a deposit racing the close aborts one of them.
            query.update(balance_cents=0, held_cents=0)
        changed = tx.wallets.find_one_and_update(
            query, {"$set": {"status": status, "status_reason": reason, "updated_at": moment}},
            return_document=ReturnDocument.AFTER)
        if changed is None:
            if status == CLOSED and status_of(wallet) in allowed:
                raise errors.WalletNotEmpty(f"wallet {wallet_id} holds money")
            raise errors.InvalidWalletTransition(
                f"wallet {wallet_id} is {status_of(wallet)}; {status} follows only "
                f"{' or '.join(allowed)}")
        name = {FROZEN: "frozen", ACTIVE: "unfrozen", CLOSED: "closed"}[status]
        events.emit(tx, f"wallet.{name}", [wallet_id], render.wallet(changed), moment)
        admin_log.append(tx, f"wallet.{name}", {"type": "wallet", "id": wallet_id},
                         before={"status": status_of(wallet), "status_reason": wallet.get("status_reason")},
                         after={"status": status, "status_reason": reason})
        return changed

    return store.transaction(work)


def _check_empty(tx, wallet, moment):
    """Refuse to close a wallet with money or anything pending (holds, requests, withdrawals).

    Every way to start one of those writes the wallet document in its unit (a reservation, or
    payment_requests.create's touch), so a close racing it conflicts: never a decision on a
    document this unit does not write."""
    wallet_id = wallet["_id"]
    if wallet["balance_cents"] or wallet["held_cents"]:
        raise errors.WalletNotEmpty(f"wallet {wallet_id} holds {wallet['balance_cents']} cents, "
                                    f"{wallet['held_cents']} held")
    pending = {"status": "pending", "expires_at": {"$gt": moment}}
    if any(tx.payment_requests.find_one({party: wallet_id, **pending}, {"_id": 1})
           for party in ("from_wallet_id", "to_wallet_id")):
        raise errors.WalletNotEmpty(f"wallet {wallet_id} has a pending payment request")
    if tx.holds.find_one({"to_wallet_id": wallet_id, "status": "pending"}, {"_id": 1}):
        raise errors.WalletNotEmpty(f"wallet {wallet_id} is to receive a pending hold")
    if tx.withdrawals.find_one({"wallet_id": wallet_id, "$or": [
            {"status": {"$in": ["pending", "processing"]}},
            {"status": "succeeded", "awaiting_return": True}]}, {"_id": 1}):
        raise errors.WalletNotEmpty(f"wallet {wallet_id} has a withdrawal in flight")
