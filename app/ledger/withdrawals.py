"""Withdrawals: money out to a bank account through a payout provider, held until it settles.

States: ``pending`` (the amount reserved in the wallet's held, like a hold) ->
``processing`` (handed to the provider, its reference stored) -> ``succeeded`` (the
reservation released and posted wallet -> payouts as a ``withdrawal`` entry) or
``failed`` (the reservation released). ``succeeded`` -> ``returned`` (a new posted
transfer payouts -> wallet, a ``withdrawal_return`` entry). Each step is one unit of
work: a conditional update on the status it read, its money and its event, so of
two racing steps exactly one applies.

The withdrawal document itself carries the reservation: while pending or processing
its amount is in the wallet's ``held_cents`` (the audit's held_equals_pending_holds).
The provider is never called inside a unit (``dispatch``): a crash between the call
and its record leaves the withdrawal pending, and the next call repeats the same
idempotency key.
"""
from functools import partial

from pymongo import ReturnDocument

from app import errors, render
from app.ledger import accounts, admin_log, events, expiry, limits, pages, units
from app.ledger.invariants import ArgumentOutOfRange, amount_in_range, require
from app.ledger.metadata import terms as metadata_terms
from app.ledger.postings import Posting, post
from app.ledger.units import new_id, run
from app.money import MAX_AMOUNT_CENTS

STATUSES = ("pending", "processing", "succeeded", "failed", "returned")
# target status -> the statuses it may follow
TRANSITIONS = {"processing": ("pending",), "succeeded": ("processing",),
               "failed": ("processing",), "returned": ("succeeded",)}
SETTLE_OUTCOMES = ("succeeded", "failed", "returned")
OPERATOR_FAILURE = "failed_by_operator"
BATCH = 100  # withdrawals a background step takes per round


def ok(result):
    return {"status": 200, "result": result}


def create_withdrawal(store, client_id, wallet_id, amount_cents, destination, provider,
                      details=None, idem=None, metadata=None):
    """Reserve the amount in the client's wallet for a payout; returns (withdrawal, replayed)."""
    amount_in_range(amount_cents, MAX_AMOUNT_CENTS)

    def work(tx):
        moment = units.now()
        # No read first: the owner is a clause of the reservation (WalletNotFound if not).
        _, limit_day = expiry.reserve_out(tx, wallet_id, amount_cents, moment, owner=client_id)
        withdrawal = {
            "_id": new_id("wd"), "wallet_id": wallet_id, "client_id": client_id,
            "amount_cents": amount_cents, "destination": dict(destination), "details": details,
            "status": "pending", "provider": provider, "provider_reference": None,
            "failure_reason": None, "system_account": "payouts", "awaiting_return": False,
            "transfer_id": None, "return_transfer_id": None, "created_at": moment, "updated_at": moment,
            # Counted against the daily out limits now, like a hold; given back if it fails.
            "limit_day": limit_day, "metadata": metadata_terms(metadata)}
        tx.withdrawals.insert_one(withdrawal)
        events.emit(tx, "withdrawal.created", [wallet_id], render.withdrawal(withdrawal), moment)
        return units.success(withdrawal)

    return run(store, idem, work)


def step(tx, withdrawal_id, status, moment, reference=None, failure_reason=None, may_return=False):
    """Move one withdrawal to ``status`` with its money and event, in this unit; the new document.

    Raises WithdrawalNotFound, or InvalidWithdrawalTransition when the state machine does
    not allow ``status`` from the current one (or another unit moved it first).
    """
    withdrawal = tx.withdrawals.find_one({"_id": withdrawal_id})
    if withdrawal is None:
        raise errors.WithdrawalNotFound(f"no withdrawal {withdrawal_id}")
    if withdrawal["status"] not in TRANSITIONS[status]:
        raise errors.InvalidWithdrawalTransition(
            f"withdrawal {withdrawal_id} is {withdrawal['status']}; {status} follows only "
            f"{' or '.join(TRANSITIONS[status])}")
    changes = {"status": status, "updated_at": moment, f"{status}_at": moment}
    if reference is not None:
        changes["provider_reference"] = reference
    if status == "failed":
        changes["failure_reason"] = failure_reason or OPERATOR_FAILURE
    if status == "succeeded":
        changes.update(transfer_id=new_id("tr"), awaiting_return=may_return)
    if status == "returned":
        changes.update(return_transfer_id=new_id("tr"), awaiting_return=False)
    moved = tx.withdrawals.find_one_and_update(
        {"_id": withdrawal_id, "status": withdrawal["status"]}, {"$set": changes},
        return_document=ReturnDocument.AFTER)
    if moved is None:
        raise errors.InvalidWithdrawalTransition(f"withdrawal {withdrawal_id} changed meanwhile")
    posted = _move_money(tx, moved, moment)
    data = render.withdrawal(moved)
    if posted is not None:
        data["transfer"] = render.transfer(posted.transfer)
    events.emit(tx, f"withdrawal.{status}", [moved["wallet_id"]], data, moment)
    return moved


def _move_money(tx, withdrawal, moment):
    wallet_id, amount, status = withdrawal["wallet_id"], withdrawal["amount_cents"], withdrawal["status"]
    if status in ("succeeded", "failed"):
        accounts.release(tx, wallet_id, amount, moment)
    if status == "failed":
        limits.give_back(tx, wallet_id, amount, withdrawal.get("limit_day"))
    record = {"amount_cents": amount, "links": {"withdrawal_id": withdrawal["_id"]},
              "details": withdrawal["details"], "metadata": [],
              "from_client_id": None, "to_client_id": None, "from_wallet_id": None, "to_wallet_id": None}
    if status == "succeeded":
        out = dict(record, _id=withdrawal["transfer_id"], type="withdrawal", from_wallet_id=wallet_id,
                   from_client_id=withdrawal["client_id"])
        # Counted against the out limits when the withdrawal reserved the money.
        return post(tx, out, [Posting(wallet_id, -amount, "withdrawal"),
                              Posting(accounts.system_shard(tx, "payouts"), amount)], moment, counted=True)
    if status == "returned":
        back = dict(record, _id=withdrawal["return_transfer_id"], type="withdrawal_return",
                    to_wallet_id=wallet_id, to_client_id=withdrawal["client_id"])
        # The wallet's own money coming back: never refused by max_balance (it would be stuck
        # with the provider's answer unrecorded).
        return post(tx, back, [Posting(accounts.system_shard(tx, "payouts"), -amount),
                               Posting(wallet_id, amount, "withdrawal_return")], moment, returning=True)
    return None


def settle(store, withdrawal_id, outcome, reference=None, failure_reason=None, idem=None):
    """The operator's word on how a withdrawal ended; returns (withdrawal, replayed)."""
    require(outcome in SETTLE_OUTCOMES, ArgumentOutOfRange, f"outcome {outcome!r}")

    def work(tx):
        withdrawal = step(tx, withdrawal_id, outcome, units.now(), reference, failure_reason)
        admin_log.append(tx, "withdrawal.settled", {"type": "withdrawal", "id": withdrawal_id},
                         after={"status": withdrawal["status"], "reference": reference,
                                "failure_reason": failure_reason})
        return ok(withdrawal)
    return run(store, idem, work)


def _record(store, withdrawal_id, status, moment, **fields):
    """One step in a unit of its own; None if another process took it first."""
    try:
        return store.transaction(lambda tx: step(tx, withdrawal_id, status, moment, **fields))
    except errors.InvalidWithdrawalTransition:
        return None


def submit_pending(providers, store, moment, limit):
    """Background step: hand up to ``limit`` pending withdrawals to their provider.

    The call happens before, and outside, the unit that records ``processing`` with the
    reference; if that unit never runs, the next round submits again with the same key.
    """
    due = store.read(lambda db: list(db.withdrawals.find({"status": "pending"}).sort(
        "updated_at", 1).limit(limit)))
    done = 0
    for withdrawal in due:
        reference = providers[withdrawal["provider"]].submit(withdrawal)
        done += _record(store.tenant(withdrawal["tenant_id"]), withdrawal["_id"], "processing", moment,
                        reference=reference) is not None
    return done


def settle_known(providers, store, moment, limit):
    """Background step: record the outcomes providers know of; an unknown one stays as it is."""
    watched = store.read(lambda db: list(db.withdrawals.find({"$or": [
        {"status": "processing"}, {"status": "succeeded", "awaiting_return": True}]}).sort(
        "updated_at", 1).limit(limit)))
    done = 0
    for withdrawal in watched:
        provider = providers[withdrawal["provider"]]
        outcome = provider.outcome(withdrawal, moment)
        if outcome is None:
            continue
        done += _record(store.tenant(withdrawal["tenant_id"]), withdrawal["_id"], outcome.status, moment,
                        failure_reason=outcome.failure_reason,
                        may_return=provider.may_return(withdrawal)) is not None
    return done


def steps(providers):
    """The background steps (name -> step(store, moment, limit)) for these providers."""
    return {"withdrawals_submitted": partial(submit_pending, providers),
            "withdrawals_settled": partial(settle_known, providers)}


def get_withdrawal(store, withdrawal_id):
    return store.read(lambda db: db.withdrawals.find_one({"_id": withdrawal_id}))


def list_withdrawals(store, wallet_id, limit, status=None, before=None):
    """Newest first: up to ``limit`` of the wallet's withdrawals, and whether more exist."""
    clauses = [] if status is None else [{"status": status}]
    return store.read(lambda db: pages.newest_first(
        db.withdrawals, [("wallet_id", wallet_id)], clauses, limit, before))
