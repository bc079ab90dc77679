"""Holds: reserve money now, capture it (in parts) or release it later."""
import base64
import binascii
from datetime import datetime, timedelta

from flask import Blueprint, current_app, g, request

from app import auth, errors, ledger, render
from app.ledger.holds import DEFAULT_EXPIRES_IN_S, STATUSES
from app.money import parse_cents
from app.routes import answered, created, idempotency_key
from app.routes.wallets import page_limit, readable_wallet
from app.validation import json_body

bp = Blueprint("holds", __name__)
EPOCH = datetime(1970, 1, 1)
MILLISECOND = timedelta(milliseconds=1)


@bp.post("/holds")
@auth.required(operator=False)
def create_hold():
    """Reserve money of one of the caller's wallets for another wallet."""
    body = json_body("hold_create")
    hold, replayed = ledger.create_hold(
        current_app.extensions["store"], g.caller.client_id, body["from_wallet_id"],
        body["to_wallet_id"], parse_cents(body["amount"]), body.get("details"),
        int(body.get("expires_in_s", DEFAULT_EXPIRES_IN_S)),
        idem=idempotency_key(g.caller.idempotency_scope, body))
    return created(render.hold(hold), replayed)


@bp.post("/holds/<hold_id>/capture")
@auth.required()
def capture_hold(hold_id):
    """Pay part or all of what remains of a hold to its receiver."""
    body = json_body("hold_capture")
    amount = parse_cents(body["amount"]) if "amount" in body else None
    hold, replayed = ledger.capture_hold(
        current_app.extensions["store"], g.caller.client_id, hold_id, amount,
        body.get("final", False), idem=idempotency_key(g.caller.idempotency_scope, body))
    return answered(render.hold(hold), replayed)


@bp.post("/holds/<hold_id>/void")
@auth.required()
def void_hold(hold_id):
    """Release what remains of a hold to its payer (the receiver or the operator)."""
    hold, replayed = ledger.void_hold(
        current_app.extensions["store"], g.caller.client_id, hold_id,
        idem=idempotency_key(g.caller.idempotency_scope, {}))
    return answered(render.hold(hold), replayed)


@bp.get("/holds/<hold_id>")
@auth.required()
def get_hold(hold_id):
    """One hold, for either party or the operator."""
    hold = ledger.get_hold(current_app.extensions["store"], hold_id)
    if hold is None or g.caller.client_id not in (None, hold["from_client_id"], hold["to_client_id"]):
        raise errors.HoldNotFound(f"no hold {hold_id}")
    return render.hold(hold)


def encode_cursor(doc, kind="hold"):
    """The (created_at, id) of a page's last document; ``kind`` keeps one listing's apart."""
    milliseconds = (doc["created_at"] - EPOCH) // MILLISECOND
    return base64.urlsafe_b64encode(f"{kind}:{milliseconds}:{doc['_id']}".encode()).decode().rstrip("=")


def decode_cursor(cursor, kind="hold"):
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, milliseconds, hold_id = text.split(":")
        if prefix != kind or not (milliseconds.isascii() and milliseconds.isdigit()) or \
                len(milliseconds) > 15 or not hold_id.isascii():
            raise ValueError(text)
        return EPOCH + int(milliseconds) * MILLISECOND, hold_id
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise errors.InvalidCursor("after must be a next_cursor from an earlier page") from None


def status_filter(statuses=STATUSES):
    status = request.args.get("status")
    if status is not None and status not in statuses:
        raise errors.ValidationFailed("status is not valid", errors=[
            {"field": "status", "message": f"must be one of {', '.join(statuses)}"}])
    return status


@bp.get("/wallets/<wallet_id>/holds")
@auth.required()
def list_holds(wallet_id):
    """The holds the wallet pays or receives, newest first, a page at a time."""
    limit, status, after = page_limit(), status_filter(), request.args.get("after")
    before = decode_cursor(after) if after is not None else None
    readable_wallet(wallet_id)
    holds, has_more = ledger.list_holds(current_app.extensions["store"], wallet_id, limit, status, before)
    return {"data": [render.hold(h) for h in holds], "has_more": has_more,
            "next_cursor": encode_cursor(holds[-1]) if has_more else None}
