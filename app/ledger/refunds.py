"""Refunds: a new posted transfer back from the receiver to the payer, pointing at the original.

The original stays as it was posted except for two fields the refund unit writes:
``refunded_cents`` (``$inc``) and ``refunds`` (``$push``). The update's filter holds the
guard, ``refunded_cents + refund <= amount_cents`` (with the caller and the type), so two
concurrent refunds can never together pass it: on MongoDB both write the one original
document and one of them aborts and retries against the new total; on the embedded engine
units run one at a time.
"""
from app import errors
from app.ledger import units
from app.ledger.metadata import terms as metadata_terms
from app.ledger.transfers import post_between
from app.ledger.units import new_id, run, success


def refund(store, caller_client_id, transfer_id, amount_cents=None, details=None, idem=None,
           metadata=None):
    """Give back ``amount_cents`` (default: all still refundable) of a transfer; returns (refund, replayed).

    ``caller_client_id`` None is the operator, who may refund any transfer. No read comes
    first: the caller, the type and what is left are clauses of the original's guarded update,
    and only a refused refund reads the original, to say why.
    """
    def work(tx):
        refund_id = new_id("tr")
        original = None
        if amount_cents is None or amount_cents > 0:
            original = _take_refundable(tx, caller_client_id, transfer_id, amount_cents, refund_id)
        if original is None:
            raise _refusal(tx, caller_client_id, transfer_id)
        amount = original["amount_cents"] - original.get("refunded_cents", 0) \
            if amount_cents is None else amount_cents
        record = {"_id": refund_id, "type": "refund", "from_wallet_id": original["to_wallet_id"],
                  "to_wallet_id": original["from_wallet_id"], "from_client_id": original["to_client_id"],
                  "to_client_id": original["from_client_id"], "amount_cents": amount,
                  "details": details, "links": {"refund_of": transfer_id},
                  "metadata": metadata_terms(metadata)}
        return success(post_between(tx, record, units.now()))

    return run(store, idem, work)


def _take_refundable(tx, caller_client_id, transfer_id, amount_cents, refund_id):
    """Count ``amount_cents`` (None: all that is left) as refunded on a transfer the caller may
    refund, in one guarded update; the original as it was before, or None if refused."""
    refunded = {"$ifNull": ["$refunded_cents", 0]}  # absent on transfers posted before refunds
    guard = {"_id": transfer_id, "type": "transfer"}
    if caller_client_id is not None:
        guard["to_client_id"] = caller_client_id
    if amount_cents is not None:
        guard["$expr"] = {"$lte": [{"$add": [refunded, amount_cents]}, "$amount_cents"]}
        update = {"$inc": {"refunded_cents": amount_cents}, "$push": {"refunds": refund_id}}
    else:  # all that is left, which only the stored transfer knows: a pipeline update
        guard["$expr"] = {"$lt": [refunded, "$amount_cents"]}
        update = [{"$set": {"refunded_cents": "$amount_cents", "refunds": {
            "$concatArrays": [{"$ifNull": ["$refunds", []]}, [refund_id]]}}}]
    return tx.transfers.find_one_and_update(guard, update)


def _refusal(tx, caller_client_id, transfer_id):
    """Why ``_take_refundable`` matched nothing (read only after it did)."""
    original = tx.transfers.find_one({"_id": transfer_id})
    if original is None or caller_client_id not in (None, original["to_client_id"]):
        return errors.TransferNotFound(f"no transfer {transfer_id}")
    if original["type"] != "transfer":
        return errors.NotRefundable(f"a {original['type']} cannot be refunded")
    left = original["amount_cents"] - original.get("refunded_cents", 0)
    return errors.ExceedsRefundableAmount(f"{left} cents of transfer {transfer_id} are left to refund")
