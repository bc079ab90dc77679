"""Wallets: balance, deposits and the journal."""
from flask import Blueprint, g, request

from app import errors, ledger, render
from app.ledger import states
from app.web import auth
from app.money import parse_cents
from app.routes import count_moved, created, idempotency_key
from app.web.pagination import page_limit, read_seq_cursor, seq_cursor
from app.web.validation import json_body

bp = Blueprint("wallets", __name__)


def readable_wallet(wallet_id):
    """The wallet if the caller may see it; 404 otherwise, whether or not it exists."""
    wallet = ledger.get_wallet(g.store, wallet_id)
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
        g.store, wallet_id, parse_cents(body["amount"]),
        body.get("details"), idem=idempotency_key(g.caller.idempotency_scope, body))
    count_moved("deposit", entry["amount_cents"], replayed)
    return created(render.deposit(entry), replayed)


@bp.get("/wallets/<wallet_id>/operations")
@auth.required()
def list_operations(wallet_id):
    """The wallet's journal, newest first, a page at a time."""
    limit = page_limit()
    after = request.args.get("after")
    before_seq = read_seq_cursor(after) if after is not None else None
    readable_wallet(wallet_id)
    entries, has_more = ledger.list_operations(
        g.store, wallet_id, limit, before_seq)
    return {"data": [render.operation(e) for e in entries], "has_more": has_more,
            "next_cursor": seq_cursor(entries[-1]["seq"]) if has_more else None}


def _change_state(wallet_id, status, reason=None):
    return render.wallet(states.change(g.store, wallet_id, status, reason))


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
