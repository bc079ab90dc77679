"""Expiry of holds: never blocks money, whether or not the sweeper has run.

A pending hold whose ``expires_at`` has passed still counts in its payer's stored
``held_cents`` until some unit of work writes the expiry down. Three things make
that invisible to users:

- reads (``as_of``, ``wallet_as_of``) show such a hold as expired and its money
  as available;
- every debit of a client wallet (``postings.post``) first expires that wallet's
  due holds in the same unit, so the guard on available money sees the release;
- the sweeper (``app/ledger/sweeper.py``) writes expiries down as they pass.
"""
from pymongo import ReturnDocument

from app import errors, render
from app.ledger import accounts, events, limits, states

PENDING = "pending"


def is_due(hold, moment):
    return hold["status"] == PENDING and hold["expires_at"] <= moment


def as_of(hold, moment):
    """The hold as it reads at ``moment``: a due pending hold is expired, nothing remains."""
    if hold is None or not is_due(hold, moment):
        return hold
    return dict(hold, status="expired", remaining_cents=0,
                released_cents=hold["released_cents"] + hold["remaining_cents"])


def wallet_as_of(db, wallet, moment):
    """The wallet as it reads at ``moment``: money of its due, unswept holds is available."""
    if wallet is None or not wallet.get("held_cents"):
        return wallet
    due = sum(hold["remaining_cents"] for hold in db.holds.find(
        {"from_wallet_id": wallet["_id"], "status": PENDING, "expires_at": {"$lte": moment}},
        {"remaining_cents": 1}))
    if not due:
        return wallet
    return dict(wallet, held_cents=wallet["held_cents"] - due,
                available_cents=wallet["available_cents"] + due)


def settle(tx, hold, status, moment, captured_cents=0, when=None):
    """Apply one step to a pending hold read in this unit; None if it is no longer as read.

    Capturing ``captured_cents`` of what remains keeps the hold pending unless ``status``
    says otherwise; any other status releases all that remains. The filter repeats the
    state that was read, so two units can never both apply a step to the same state.
    """
    remaining = hold["remaining_cents"] - captured_cents
    released = remaining if status != PENDING else 0
    changes = {"status": status, "remaining_cents": remaining - released, "updated_at": moment}
    if status != PENDING:
        changes["resolved_at"] = moment
    return tx.holds.find_one_and_update(
        dict({"_id": hold["_id"], "status": PENDING, "remaining_cents": hold["remaining_cents"]},
             **(when or {})),
        {"$set": changes, "$inc": {"captured_cents": captured_cents, "released_cents": released}},
        return_document=ReturnDocument.AFTER)


def expire(tx, hold_id, moment):
    """Write down the expiry of one due hold and release its money; None if not due or not pending."""
    hold = tx.holds.find_one({"_id": hold_id, "status": PENDING, "expires_at": {"$lte": moment}})
    if hold is None:
        return None
    expired = settle(tx, hold, "expired", moment, when={"expires_at": {"$lte": moment}})
    if expired is None:
        return None
    accounts.release(tx, hold["from_wallet_id"], hold["remaining_cents"], moment)
    limits.give_back(tx, hold["from_wallet_id"], hold["remaining_cents"], hold.get("limit_day"),
                     count=0 if hold["captured_cents"] else 1)
    events.emit(tx, "hold.expired", [hold["from_wallet_id"], hold["to_wallet_id"]],
                render.hold(expired), moment)
    return expired


def reserve_out(tx, wallet_id, amount_cents, moment, owner=None, refused=None):
    """Reserve money a debit will take later (a hold, a withdrawal): available -> held, within
    the wallet's limits and counted against its daily out limits; (wallet, limit day).

    ``owner``: the client the wallet must belong to, a clause of the same guarded update
    (WalletNotFound if not). No read comes first: only a refused reservation expires the
    payer's due holds (their money is available again) and tries once more, as a debit does
    (app/ledger/postings.py). ``refused()``, if given, runs before the reservation's own
    refusal is raised (a hold names a missing receiver first). Raises LimitExceeded,
    InsufficientFunds, WalletFrozen or WalletClosed, with nothing reserved.
    """
    guard = limits.debit_guard(amount_cents)
    if owner is not None:
        guard = dict(guard, client_id=owner)
    wallet = accounts.reserve(tx, wallet_id, amount_cents, moment, guard=guard)
    if wallet is None and expire_due(tx, wallet_id, moment):
        wallet = accounts.reserve(tx, wallet_id, amount_cents, moment, guard=guard)
    if wallet is None:
        found = tx.wallets.find_one({"_id": wallet_id})
        if owner is not None and (found is None or found["client_id"] != owner):
            raise errors.WalletNotFound(f"you have no wallet {wallet_id}")
        if refused is not None:
            refused()
        raise states.refusal(found, -amount_cents) or limits.refusal(found, -amount_cents) or \
            errors.InsufficientFunds(f"wallet {wallet_id} has less available money than the amount")
    try:
        return wallet, limits.charge_out(tx, wallet, amount_cents, moment)
    except errors.LimitExceeded:
        if not expire_due(tx, wallet_id, moment):
            raise
        return wallet, limits.charge_out(tx, wallet, amount_cents, moment)  # their room is back


def expire_due(tx, wallet_id, moment):
    """Expire every due hold ``wallet_id`` pays, in this unit: called before any debit of it."""
    due = tx.holds.find({"from_wallet_id": wallet_id, "status": PENDING,
                         "expires_at": {"$lte": moment}}, {"_id": 1})
    return [hold for hold in (expire(tx, doc["_id"], moment) for doc in list(due)) if hold]


def sweep_holds(store, moment, limit):
    """One sweeper step: write down up to ``limit`` due expiries, each in its own unit."""
    due = store.read(lambda db: list(db.holds.find(
        {"status": PENDING, "expires_at": {"$lte": moment}}, {"_id": 1, "tenant_id": 1}).limit(limit)))
    return sum(1 for hold in due if store.tenant(hold["tenant_id"]).transaction(
        lambda tx, hold_id=hold["_id"]: expire(tx, hold_id, moment)))
