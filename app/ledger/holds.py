"""Holds: reserve a payer's money now, capture it (in parts) or release it later.

A hold is resolved exactly once: captured (nothing remains, or a final capture
released the rest), voided, or expired. Each step is a conditional update on the
hold's current state in the same unit of work as its money and its event, so of
racing captures, voids and expiries exactly one wins each state.

Money: placing a hold moves the amount from the payer's available to held
(``accounts.reserve``, guarded on available). A capture releases the captured part
from held and posts it payer -> receiver as a transfer through ``postings.post`` in
the same unit: the payer's balance and held both drop by the amount, its available
does not move, and available = balance - held stays exact.
"""
from datetime import timedelta


from app import errors, render
from app.ledger import accounts, events, expiry, limits, pages, states
from app.ledger.invariants import ArgumentOutOfRange, amount_in_range, require
from app.ledger.metadata import terms as metadata_terms
from app.ledger.postings import Posting, post
from app.ledger import units
from app.ledger.units import new_id, run
from app.money import MAX_AMOUNT_CENTS

PENDING = expiry.PENDING
STATUSES = ("pending", "captured", "voided", "expired")
DEFAULT_EXPIRES_IN_S = 7 * 24 * 3600
MAX_EXPIRES_IN_S = 30 * 24 * 3600


def ok(result):
    return {"status": 200, "result": result}


def create_hold(store, client_id, from_wallet_id, to_wallet_id, amount_cents, details=None,
                expires_in_s=DEFAULT_EXPIRES_IN_S, idem=None, metadata=None):
    """Reserve money of the client's wallet for another wallet; returns (hold, replayed)."""
    amount_in_range(amount_cents, MAX_AMOUNT_CENTS)
    require(1 <= expires_in_s <= MAX_EXPIRES_IN_S, ArgumentOutOfRange, f"expires_in_s {expires_in_s}")

    def work(tx):
        if from_wallet_id == to_wallet_id:
            raise errors.AccountsMustBeDifferent("from_wallet_id and to_wallet_id are the same wallet")
        moment = units.now()
        # No read first: the payer's owner is a clause of its reservation, and the receiver's
        # write (a close of the receiver conflicts with it) finds it and names its owner.
        # Refusals keep their order: WalletNotFound, ReceiverNotFound, WalletClosed (the
        # receiver), then the payer's own.
        _, limit_day = expiry.reserve_out(tx, from_wallet_id, amount_cents, moment, owner=client_id,
                                          refused=lambda: _receiver_open(tx, to_wallet_id, moment))
        receiver = _receiver_open(tx, to_wallet_id, moment)
        hold = new_hold(client_id, receiver["client_id"], from_wallet_id, to_wallet_id,
                        amount_cents, details, moment, expires_in_s)
        hold["limit_day"] = limit_day  # given back if voided or expired
        hold["metadata"] = metadata_terms(metadata)
        tx.holds.insert_one(hold)
        events.emit(tx, "hold.created", [from_wallet_id, to_wallet_id], render.hold(hold), moment)
        return units.success(hold)

    return run(store, idem, work)


def _receiver_open(tx, wallet_id, moment):
    """Write the receiver while it is not closed (``states.touch_open``); the wallet before.
    ReceiverNotFound or WalletClosed (read only after the write found nothing)."""
    wallet = states.touch_open(tx, [wallet_id], moment, missing=errors.ReceiverNotFound)
    return wallet[0]


def new_hold(from_client_id, to_client_id, from_wallet_id, to_wallet_id, amount_cents, details,
             moment, expires_in_s):
    return {"_id": new_id("hold"), "from_wallet_id": from_wallet_id, "to_wallet_id": to_wallet_id,
            "from_client_id": from_client_id, "to_client_id": to_client_id,
            "amount_cents": amount_cents,
            "captured_cents": 0, "remaining_cents": amount_cents, "released_cents": 0,
            "status": PENDING, "details": details, "created_at": moment, "updated_at": moment,
            "expires_at": moment + timedelta(seconds=expires_in_s), "resolved_at": None}


def _pending_hold(tx, caller_client_id, hold_id, moment):
    """The hold, if the caller is its receiver or the operator and it is still pending."""
    hold = tx.holds.find_one({"_id": hold_id})
    parties = (None, hold["from_client_id"], hold["to_client_id"]) if hold else ()
    if caller_client_id not in parties:
        raise errors.HoldNotFound(f"no hold {hold_id}")
    if caller_client_id == hold["from_client_id"]:
        raise errors.Forbidden("only the receiver or the operator may capture or void a hold")
    if hold["status"] != PENDING or expiry.is_due(hold, moment):
        raise errors.HoldNotPending(f"hold {hold_id} is {expiry.as_of(hold, moment)['status']}")
    return hold


def capture_hold(store, caller_client_id, hold_id, amount_cents=None, final=False, idem=None,
                 metadata=None):
    """Pay (part of) what remains of a hold to its receiver; returns (hold, replayed).

    ``caller_client_id`` is None for the operator. Without ``amount_cents`` all that
    remains is captured; ``final`` releases whatever remains after this capture. The capture's
    transfer takes ``metadata`` of its own, nothing of the hold's. No read comes first: the
    hold's state, its receiver and what remains are clauses of the capture's own update, and
    only a refused capture reads the hold, to say why.
    """
    def work(tx):
        moment = units.now()
        hold = _take_capture(tx, caller_client_id, hold_id, amount_cents, final, moment)
        if hold is None:
            raise _capture_refusal(tx, caller_client_id, hold_id, amount_cents, moment)
        amount = hold["remaining_cents"] if amount_cents is None else amount_cents
        done = final or amount == hold["remaining_cents"]
        released = hold["remaining_cents"] if done else amount
        captured = dict(hold, captured_cents=hold["captured_cents"] + amount,
                        remaining_cents=hold["remaining_cents"] - released,
                        released_cents=hold["released_cents"] + released - amount,
                        status="captured" if done else PENDING, updated_at=moment,
                        resolved_at=moment if done else hold["resolved_at"])
        payer, receiver = hold["from_wallet_id"], hold["to_wallet_id"]
        if released > amount:  # a final capture releases the rest
            limits.give_back(tx, payer, released - amount, hold.get("limit_day"), count=0)
        record = {"_id": new_id("tr"), "type": "transfer", "links": {"hold_id": hold_id},
                  "from_wallet_id": payer, "to_wallet_id": receiver,
                  "from_client_id": hold["from_client_id"], "to_client_id": hold["to_client_id"],
                  "amount_cents": amount, "details": hold["details"],
                  "metadata": metadata_terms(metadata)}
        # The captured money was counted against the payer's out limits when it was held; the
        # payer's one write releases what the capture frees from held and pays the amount.
        posted = post(tx, record, [
            Posting(payer, -amount, "transfer_out", receiver, from_held_cents=released),
            Posting(receiver, amount, "transfer_in", payer)], moment, counted=True)
        events.emit(tx, "hold.captured", [payer, receiver],
                    dict(render.hold(captured), transfer=render.transfer(posted.transfer)), moment)
        return ok(captured)

    return run(store, idem, work)


def _take_capture(tx, caller_client_id, hold_id, amount_cents, final, moment):
    """Capture ``amount_cents`` (None: all that remains) of a live pending hold the caller may
    capture, in one conditional update; the hold as it was before, or None if refused.

    One pipeline update: whether the hold ends (all captured, or ``final``) depends on what
    remains, which only the stored hold knows. ``capture_hold`` derives the hold after from
    the one before by the same rules."""
    guard = {"_id": hold_id, "status": PENDING, "expires_at": {"$gt": moment}}
    if caller_client_id is not None:  # the receiver may capture, never the payer
        guard.update(to_client_id=caller_client_id, from_client_id={"$ne": caller_client_id})
    if amount_cents is not None:
        guard["remaining_cents"] = {"$gte": amount_cents}
    amount = "$remaining_cents" if amount_cents is None else amount_cents
    done = True if final or amount_cents is None else {"$eq": ["$remaining_cents", amount_cents]}
    left = {"$subtract": ["$remaining_cents", amount]}
    return tx.holds.find_one_and_update(guard, [{"$set": {
        "captured_cents": {"$add": ["$captured_cents", amount]},
        "released_cents": {"$add": ["$released_cents", {"$cond": [done, left, 0]}]},
        "remaining_cents": {"$cond": [done, 0, left]},
        "status": {"$cond": [done, "captured", PENDING]},
        "resolved_at": {"$cond": [done, moment, "$resolved_at"]},
        "updated_at": moment}}])


def _capture_refusal(tx, caller_client_id, hold_id, amount_cents, moment):
    """Why ``_take_capture`` matched nothing (read only after it did)."""
    hold = _pending_hold(tx, caller_client_id, hold_id, moment)  # raises HoldNotFound, Forbidden ...
    if amount_cents is not None and amount_cents > hold["remaining_cents"]:
        return errors.ExceedsHoldAmount(
            f"{amount_cents} cents is more than the {hold['remaining_cents']} cents that remain")
    return errors.HoldNotPending(f"hold {hold_id} changed while being captured")


def void_hold(store, caller_client_id, hold_id, idem=None):
    """Release what remains of a hold to its payer; returns (hold, replayed)."""
    def work(tx):
        moment = units.now()
        hold = _pending_hold(tx, caller_client_id, hold_id, moment)
        voided = expiry.settle(tx, hold, "voided", moment, when={"expires_at": {"$gt": moment}})
        if voided is None:
            raise errors.HoldNotPending(f"hold {hold_id} changed while being voided")
        accounts.release(tx, hold["from_wallet_id"], hold["remaining_cents"], moment)
        limits.give_back(tx, hold["from_wallet_id"], hold["remaining_cents"], hold.get("limit_day"),
                         count=0 if hold["captured_cents"] else 1)
        events.emit(tx, "hold.voided", [hold["from_wallet_id"], hold["to_wallet_id"]],
                    render.hold(voided), moment)
        return ok(voided)

    return run(store, idem, work)


def get_hold(store, hold_id):
    return expiry.as_of(store.read(lambda db: db.holds.find_one({"_id": hold_id})), units.now())


def list_holds(store, wallet_id, limit, status=None, before=None):
    """Newest first: up to ``limit`` holds the wallet pays or receives, and whether more exist.

    ``status`` is as holds read now (a due pending hold is expired); ``before`` is the
    (created_at, id) of the last hold of the previous page.
    """
    moment = units.now()
    scopes = [("from_wallet_id", wallet_id), ("to_wallet_id", wallet_id)]
    clauses = [] if status is None else [pages.status_clause(status, moment)]
    page, has_more = store.read(lambda db: pages.newest_first(db.holds, scopes, clauses, limit, before))
    return [expiry.as_of(hold, moment) for hold in page], has_more
