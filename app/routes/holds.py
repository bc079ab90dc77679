"""Holds: reserve money now, capture it (in parts) or release it later."""
from flask import Blueprint, g, request

from app import errors, ledger, render
from app.web import auth
from app.ledger.holds import DEFAULT_EXPIRES_IN_S, STATUSES
from app.money import parse_cents
from app.routes import answered, choice, created, idempotency_key
from app.routes.wallets import readable_wallet
from app.web.pagination import page_limit, position_cursor, read_position_cursor
from app.web.validation import json_body

bp = Blueprint("holds", __name__)
CURSOR_KIND = "hold"


@bp.post("/holds")
@auth.required(operator=False)
def create_hold():
    """Reserve money of one of the caller's wallets for another wallet."""
    body = json_body("hold_create")
    hold, replayed = ledger.create_hold(
        g.store, g.caller.client_id, body["from_wallet_id"],
        body["to_wallet_id"], parse_cents(body["amount"]), body.get("details"),
        int(body.get("expires_in_s", DEFAULT_EXPIRES_IN_S)),
        idem=idempotency_key(g.caller.idempotency_scope, body), metadata=body.get("metadata"))
    return created(render.hold(hold), replayed)


@bp.post("/holds/<hold_id>/capture")
@auth.required()
def capture_hold(hold_id):
    """Pay part or all of what remains of a hold to its receiver."""
    body = json_body("hold_capture")
    amount = parse_cents(body["amount"]) if "amount" in body else None
    hold, replayed = ledger.capture_hold(
        g.store, g.caller.client_id, hold_id, amount,
        body.get("final", False), idem=idempotency_key(g.caller.idempotency_scope, body),
        metadata=body.get("metadata"))
    return answered(render.hold(hold), replayed)


@bp.post("/holds/<hold_id>/void")
@auth.required()
def void_hold(hold_id):
    """Release what remains of a hold to its payer (the receiver or the operator)."""
    hold, replayed = ledger.void_hold(
        g.store, g.caller.client_id, hold_id,
        idem=idempotency_key(g.caller.idempotency_scope, {}))
    return answered(render.hold(hold), replayed)


@bp.get("/holds/<hold_id>")
@auth.required()
def get_hold(hold_id):
    """One hold, for either party or the operator."""
    hold = ledger.get_hold(g.store, hold_id)
    if hold is None or g.caller.client_id not in (None, hold["from_client_id"], hold["to_client_id"]):
        raise errors.HoldNotFound(f"no hold {hold_id}")
    return render.hold(hold)


@bp.get("/wallets/<wallet_id>/holds")
@auth.required()
def list_holds(wallet_id):
    """The holds the wallet pays or receives, newest first, a page at a time."""
    limit, status, after = page_limit(), choice("status", STATUSES), request.args.get("after")
    before = read_position_cursor(after, CURSOR_KIND) if after is not None else None
    readable_wallet(wallet_id)
    holds, has_more = ledger.list_holds(g.store, wallet_id, limit, status, before)
    return {"data": [render.hold(h) for h in holds], "has_more": has_more,
            "next_cursor": position_cursor(holds[-1], CURSOR_KIND) if has_more else None}
