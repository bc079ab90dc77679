"""Wallets: balance, deposits and the journal."""
import base64
import binascii

from flask import Blueprint, current_app, g, request

from app import errors, ledger, render
from app.ledger import states
from app.web import auth
from app.money import parse_cents
from app.routes import count_moved, created, idempotency_key
from app.web.validation import json_body

bp = Blueprint("wallets", __name__)
MAX_PAGE = 100
MAX_SEQ = 2**63 - 1  # MongoDB refuses larger integers in a query: a bigger cursor would be a 500


def readable_wallet(wallet_id):
    """The wallet if the caller may see it; 404 otherwise, whether or not it exists."""
    wallet = ledger.get_wallet(current_app.extensions["store"], wallet_id)
    if wallet is None or not g.caller.may_read_wallet(wallet):
        raise errors.WalletNotFound(f"no wallet {wallet_id}")
    return wallet


@bp.get("/wallets/<wallet_id>")
@auth.required()
def get_wallet(wallet_id):
    """A wallet's balance and version."""
    return render.wallet(readable_wallet(wallet_id))


@bp.post("/wallets/<wallet_id>/deposits")
@auth.required(client=False)
def create_deposit(wallet_id):
    """Top a wallet up (operator only)."""
    body = json_body("deposit_create")
    entry, replayed = ledger.deposit(
        current_app.extensions["store"], wallet_id, parse_cents(body["amount"]),
        body.get("details"), idem=idempotency_key(g.caller.idempotency_scope, body))
    count_moved("deposit", entry["amount_cents"], replayed)
    return created(render.deposit(entry), replayed)


def encode_cursor(seq):
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor):
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, seq = text.partition(":")
        if prefix != "seq" or not (seq.isascii() and seq.isdigit()) or int(seq) > MAX_SEQ:
            raise ValueError(text)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.InvalidCursor("after must be a next_cursor from an earlier page") from None


def page_limit():
    raw = request.args.get("limit", "20")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise errors.ValidationFailed("limit is not valid", errors=[
            {"field": "limit", "message": f"must be a whole number from 1 to {MAX_PAGE}"}])
    return int(raw)


@bp.get("/wallets/<wallet_id>/operations")
@auth.required()
def list_operations(wallet_id):
    """The wallet's journal, newest first, a page at a time."""
    limit = page_limit()
    after = request.args.get("after")
    before_seq = decode_cursor(after) if after is not None else None
    readable_wallet(wallet_id)
    entries, has_more = ledger.list_operations(
        current_app.extensions["store"], wallet_id, limit, before_seq)
    return {"data": [render.operation(e) for e in entries], "has_more": has_more,
            "next_cursor": encode_cursor(entries[-1]["seq"]) if has_more else None}


def _change_state(wallet_id, status, reason=None):
    return render.wallet(states.change(current_app.extensions["store"], wallet_id, status, reason))


@bp.post("/wallets/<wallet_id>/freeze")
@auth.required(client=False)
def freeze_wallet(wallet_id):
    """Stop money leaving a wallet (operator only); money may still come in."""
    return _change_state(wallet_id, states.FROZEN, json_body("wallet_state_change")["reason"])


@bp.post("/wallets/<wallet_id>/unfreeze")
@auth.required(client=False)
def unfreeze_wallet(wallet_id):
    """Make a frozen wallet active again (operator only)."""
    return _change_state(wallet_id, states.ACTIVE)


@bp.post("/wallets/<wallet_id>/close")
@auth.required(client=False)
def close_wallet(wallet_id):
    """Close an empty wallet for good (operator only)."""
    return _change_state(wallet_id, states.CLOSED, json_body("wallet_state_change")["reason"])
