"""Batch transfers: up to 1,000 transfers from the caller's wallets in one unit of work.

``atomic``: every item is posted or none is. The first failure raises ``Rollback``, so
the unit aborts (the undo log on the embedded engine, an aborted transaction on
MongoDB: no compensating entries) and its outcome, the failing item's code and
``batch_failed`` for every other item, is still recorded for replay.

``independent``: each item on its own merits. A failing item is undone back to the
savepoint taken before it; where the engine cannot (MongoDB, once the item has
written), the unit is aborted and run again without that item (docs/features/batches.md).

Items are first posted at once (``transfers.post_transfers``: one guarded write per wallet,
one insert per collection). When a guard of the totals refuses (``TotalRefused``) the unit
is undone and run again item by item, each through ``transfers.post_transfer``, the code of
``POST /transfers``, which says which item is refused and why.
"""
from app import errors
from app.ledger import units
from app.ledger.invariants import ArgumentOutOfRange, require
from app.ledger.postings import TotalRefused
from app.ledger.transfers import check_parties, post_transfer, post_transfers, wallet_owners
from app.ledger.units import Rollback, new_id, run, success

MODES = ("atomic", "independent")
MAX_ITEMS = 1000
BATCH_FAILED = {"code": "batch_failed", "detail": "another transfer of this atomic batch failed"}
# The per-item refusals: those of POST /transfers past the caller's ownership of the sender.
# A new one joins here and the code enum of schemas/responses/transfer_batch.json (a test ties
# the two); a refusal not listed refuses the whole batch, as it would a transfer.
ITEM_REFUSALS = (errors.AccountsMustBeDifferent, errors.ReceiverNotFound, errors.InsufficientFunds,
                 errors.LimitExceeded, errors.WalletFrozen, errors.WalletClosed)


class _Redo(Exception):
    """An independent item failed after writing, where the engine cannot roll back to a mark."""

    def __init__(self, index, error):
        super().__init__(error.code)
        self.index, self.error = index, error


def create_batch(store, client_id, mode, items, idem=None):
    """Post ``items`` ({from_wallet_id, to_wallet_id, amount_cents, details, ref}); (batch, replayed)."""
    require(mode in MODES and 0 < len(items) <= MAX_ITEMS, ArgumentOutOfRange,
            f"mode {mode!r} with {len(items)} items")
    failed = {}  # index -> refusal, for items dropped by a redo
    at_once = True
    while True:
        try:
            return run(store, idem, lambda tx: _work(tx, client_id, mode, items, failed, at_once))
        except _Redo as redo:
            failed[redo.index] = redo.error
        except TotalRefused:
            at_once = False


def _work(tx, client_id, mode, items, failed, at_once):
    owners = wallet_owners(tx, [w for item in items for w in (item["from_wallet_id"], item["to_wallet_id"])])
    foreign = sorted({i["from_wallet_id"] for i in items if owners.get(i["from_wallet_id"]) != client_id})
    if foreign:
        raise errors.WalletNotFound(f"you have no wallet {', '.join(foreign)}")
    moment = units.now()
    batch_id = new_id("trb")  # each posted item's transfer and entries name their batch
    if at_once:
        return _at_once(tx, batch_id, mode, items, owners, moment)
    outcomes = dict(failed)
    for index, item in enumerate(items):
        if index in outcomes:
            continue
        mark = tx.savepoint()
        try:
            outcomes[index] = post_transfer(tx, owners, item["from_wallet_id"], item["to_wallet_id"],
                                            item["amount_cents"], item.get("details"), moment,
                                            {"batch_id": batch_id}, item.get("metadata"))
        except ITEM_REFUSALS as error:
            if mode == "atomic":
                raise Rollback(success(_batch(batch_id, mode, items, {index: error}, moment,
                                              BATCH_FAILED)))
            if not tx.rollback_to(mark):
                raise _Redo(index, error) from None
            outcomes[index] = error
    return success(_batch(batch_id, mode, items, outcomes, moment))


def _at_once(tx, batch_id, mode, items, owners, moment):
    """Every item that passes ``check_parties`` posted at once (TotalRefused if they cannot be)."""
    outcomes, passed = {}, []
    for index, item in enumerate(items):
        try:
            check_parties(owners, item["from_wallet_id"], item["to_wallet_id"], item["amount_cents"])
            passed.append(index)
        except ITEM_REFUSALS as error:
            if mode == "atomic":
                raise Rollback(success(_batch(batch_id, mode, items, {index: error}, moment, BATCH_FAILED)))
            outcomes[index] = error
    if passed:
        outcomes.update(zip(passed, post_transfers(tx, owners, [items[i] for i in passed], moment,
                                                   {"batch_id": batch_id})))
    return success(_batch(batch_id, mode, items, outcomes, moment))


def _batch(batch_id, mode, items, outcomes, moment, otherwise=None):
    """The batch as recorded: a result per item, in request order."""
    return {"_id": batch_id, "mode": mode, "created_at": moment,
            "results": [_result(index, item, outcomes.get(index), otherwise)
                        for index, item in enumerate(items)]}


def _result(index, item, outcome, otherwise):
    result = {"index": index, "ref": item.get("ref"), "status": "failed", "transfer_id": None,
              "error": otherwise}
    if isinstance(outcome, errors.ApiError):
        result["error"] = {"code": outcome.code, "detail": outcome.detail}
    elif outcome is not None:
        result.update(status="posted", transfer_id=outcome["_id"], error=None)
    return result
