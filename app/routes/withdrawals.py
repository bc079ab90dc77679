"""Withdrawals: money out to a bank account through the payout provider."""
from flask import Blueprint, current_app, g, request

from app import errors, ledger, render
from app.web import auth
from app.ledger.withdrawals import STATUSES
from app.money import parse_cents
from app.routes import answered, choice, created, idempotency_key
from app.routes.wallets import readable_wallet
from app.web.pagination import page_limit, position_cursor, read_position_cursor
from app.web.validation import json_body

bp = Blueprint("withdrawals", __name__)
CURSOR_KIND = "wd"


@bp.post("/withdrawals")
@auth.required(operator=False)
def create_withdrawal():
    """Hold money of the caller's wallet and pay it out to a bank account."""
    body = json_body("withdrawal_create")
    withdrawal, replayed = ledger.create_withdrawal(
        g.store, g.caller.client_id, body["wallet_id"],
        parse_cents(body["amount"]), body["destination"], current_app.config["WITHDRAWAL_PROVIDER"],
        body.get("details"), idem=idempotency_key(g.caller.idempotency_scope, body),
        metadata=body.get("metadata"))
    return created(render.withdrawal(withdrawal), replayed)


@bp.post("/withdrawals/<withdrawal_id>/settle")
@auth.required(client=False)
def settle_withdrawal(withdrawal_id):
    """The operator's word on how a withdrawal ended (operator only)."""
    body = json_body("withdrawal_settle")
    withdrawal, replayed = ledger.settle(
        g.store, withdrawal_id, body["outcome"],
        body.get("provider_reference"), body.get("failure_reason"),
        idem=idempotency_key(g.caller.idempotency_scope, body))
    return answered(render.withdrawal(withdrawal), replayed)


@bp.get("/withdrawals/<withdrawal_id>")
@auth.required()
def get_withdrawal(withdrawal_id):
    """One withdrawal, for its owner or the operator."""
    withdrawal = ledger.get_withdrawal(g.store, withdrawal_id)
    if withdrawal is None or g.caller.client_id not in (None, withdrawal["client_id"]):
        raise errors.WithdrawalNotFound(f"no withdrawal {withdrawal_id}")
    return render.withdrawal(withdrawal)


@bp.get("/wallets/<wallet_id>/withdrawals")
@auth.required()
def list_withdrawals(wallet_id):
    """The wallet's withdrawals, newest first, a page at a time."""
    limit, status, after = page_limit(), choice("status", STATUSES), request.args.get("after")
    before = read_position_cursor(after, CURSOR_KIND) if after is not None else None
    readable_wallet(wallet_id)
    page, has_more = ledger.list_withdrawals(g.store, wallet_id, limit,
                                             status, before)
    return {"data": [render.withdrawal(w) for w in page], "has_more": has_more,
            "next_cursor": position_cursor(page[-1], CURSOR_KIND) if has_more else None}
