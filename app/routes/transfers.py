"""Transfers between wallets."""
from flask import Blueprint, g

from app import errors, ledger, render
from app.web import auth
from app.ledger import refunds
from app.money import parse_cents
from app.routes import count_moved, created, idempotency_key
from app.web.validation import json_body

bp = Blueprint("transfers", __name__)


@bp.post("/transfers")
@auth.required(operator=False)
def create_transfer():
    """Move money from one of the caller's wallets to any other wallet."""
    body = json_body("transfer_create")
    result, replayed = ledger.transfer(
        g.store, g.caller.client_id, body["from_wallet_id"],
        body["to_wallet_id"], parse_cents(body["amount"]), body.get("details"),
        idem=idempotency_key(g.caller.idempotency_scope, body), metadata=body.get("metadata"))
    count_moved("transfer", result["amount_cents"], replayed)
    return created(render.transfer(result), replayed)


@bp.get("/transfers/<transfer_id>")
@auth.required()
def get_transfer(transfer_id):
    """One transfer, for either party or the operator."""
    transfer = ledger.get_transfer(g.store, transfer_id)
    caller = g.caller
    if transfer is None or not (caller.is_operator or caller.client_id in (
            transfer["from_client_id"], transfer["to_client_id"])):
        raise errors.TransferNotFound(f"no transfer {transfer_id}")
    return render.transfer(transfer)


@bp.post("/transfers/<transfer_id>/refunds")
@auth.required()
def create_refund(transfer_id):
    """Give back all or part of a transfer (its receiver or the operator)."""
    body = json_body("refund_create")
    amount = body.get("amount")
    result, replayed = refunds.refund(
        g.store, g.caller.client_id, transfer_id,
        None if amount is None else parse_cents(amount), body.get("details"),
        idem=idempotency_key(g.caller.idempotency_scope, body), metadata=body.get("metadata"))
    count_moved("refund", result["amount_cents"], replayed)
    return created(render.transfer(result), replayed)
