"""Refunds: a new posted transfer back from the receiver to the payer, pointing at the original.

The original stays as it was posted except for two fields the refund unit writes:
``refunded_cents`` (``$inc``) and ``refunds`` (``$push``). The update's filter holds the
guard, ``refunded_cents <= amount_cents - refund``, so two concurrent refunds can never
together pass it: on MongoDB both write the one original document and one of them aborts
and retries against the new total; on the embedded engine units run one at a time.
"""
from app import errors
from app.ledger import units
from app.ledger.metadata import terms as metadata_terms
from app.ledger.transfers import post_between
from app.ledger.units import new_id, run, success


def refund(store, caller_client_id, transfer_id, amount_cents=None, details=None, idem=None,
           metadata=None):
    """Give back ``amount_cents`` (default: all still refundable) of a transfer; returns (refund, replayed).

    ``caller_client_id`` None is the operator, who may refund any transfer.
    """
    def work(tx):
        original = tx.transfers.find_one({"_id": transfer_id})
        if original is None or caller_client_id not in (None, original["to_client_id"]):
            raise errors.TransferNotFound(f"no transfer {transfer_id}")
        if original["type"] != "transfer":
            raise errors.NotRefundable(f"a {original['type']} cannot be refunded")
        left = original["amount_cents"] - original.get("refunded_cents", 0)
        amount = left if amount_cents is None else amount_cents
        if amount <= 0 or amount > left:
            raise errors.ExceedsRefundableAmount(
                f"{left} cents of transfer {transfer_id} are left to refund")
        record = {"_id": new_id("tr"), "type": "refund", "from_wallet_id": original["to_wallet_id"],
                  "to_wallet_id": original["from_wallet_id"], "from_client_id": original["to_client_id"],
                  "to_client_id": original["from_client_id"], "amount_cents": amount,
                  "details": details, "links": {"refund_of": transfer_id},
                  "metadata": metadata_terms(metadata)}
        guarded = tx.transfers.find_one_and_update(
            {"_id": transfer_id, "$or": [{"refunded_cents": {"$lte": original["amount_cents"] - amount}},
                                         {"refunded_cents": {"$exists": False}}]},  # posted before refunds
            {"$inc": {"refunded_cents": amount}, "$push": {"refunds": record["_id"]}})
        if guarded is None:
            raise errors.ExceedsRefundableAmount(f"transfer {transfer_id} has less left to refund")
        return success(post_between(tx, record, units.now()))

    return run(store, idem, work)
