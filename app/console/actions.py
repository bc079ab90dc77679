"""The console's forms that change something: each calls the ledger function the API route calls
(no second path to money), then redirects to a page (post/redirect/get). Each lands in the
admin log with the signed-in caller as its actor: the guard binds the caller's tenant as the API's
auth does (``web_auth.bind``), and the ledger function writes the entry from that unit's context.
"""
from flask import g, redirect, url_for

from app import ledger
from app.console import bp, forms
from app.console.guard import needs
from app.ledger import limits, states, webhooks
from app.money import parse_cents
from app.routes import count_moved


def store():
    """The signed-in caller's tenant's books (bound by the guard, as the API's auth binds them)."""
    return g.store


@bp.post("/wallets/<wallet_id>/deposits")
@needs("deposits:write")
def deposit(wallet_id):
    """Top the wallet up; the form's idempotency key makes a double submit deposit once."""
    body = forms.deposit_body()
    entry, replayed = ledger.deposit(store(), wallet_id, parse_cents(body["amount"]), body.get("details"),
                                     idem=forms.idempotency_key(g.caller.idempotency_scope, body))
    count_moved("deposit", entry["amount_cents"], replayed)
    return redirect(url_for("console.wallet", wallet_id=wallet_id,
                            notice="deposit_replayed" if replayed else "deposited"), 303)


@bp.post("/wallets/<wallet_id>/limits")
@needs("limits:write")
def set_limits(wallet_id):
    """Set the wallet's limits; an empty field removes that limit."""
    limits.set_limits(store(), wallet_id, forms.limits_changes())
    return redirect(url_for("console.wallet", wallet_id=wallet_id, notice="limits_set"), 303)


@bp.post("/withdrawals/<withdrawal_id>/settle")
@needs("withdrawals:write")
def settle(withdrawal_id):
    """The operator's word on a manual withdrawal: succeeded, failed or returned."""
    body = forms.settle_body()
    withdrawal, replayed = ledger.settle(
        store(), withdrawal_id, body["outcome"], body.get("provider_reference"), body.get("failure_reason"),
        idem=forms.idempotency_key(g.caller.idempotency_scope, body))
    shown = "settle_replayed" if replayed else "settled"
    if forms.field("from") == "wallet":  # the wallet page's "returned" button goes back there
        return redirect(url_for("console.wallet", wallet_id=withdrawal["wallet_id"], notice=shown), 303)
    return redirect(url_for("console.withdrawals", notice=shown), 303)


@bp.post("/deliveries/<endpoint_id>/<delivery_id>/retry")
@needs("webhooks:write")
def retry(endpoint_id, delivery_id):
    """Make the delivery due now (receivers dedupe by webhook-id: at least once, as the API's retry)."""
    webhooks.retry_delivery(store(), endpoint_id, delivery_id)
    return redirect(url_for("console.deliveries", notice="retried"), 303)


def _change_state(wallet_id, status, reason, shown):
    """Move the wallet to ``status`` with ``states.change``, as the API's freeze, unfreeze and close."""
    states.change(store(), wallet_id, status, reason)
    return redirect(url_for("console.wallet", wallet_id=wallet_id, notice=shown), 303)


@bp.post("/wallets/<wallet_id>/freeze")
@needs("wallets:write")
def freeze(wallet_id):
    """Stop money leaving the wallet, saying why; money may still come in."""
    return _change_state(wallet_id, states.FROZEN, forms.state_change_body()["reason"], "frozen")


@bp.post("/wallets/<wallet_id>/unfreeze")
@needs("wallets:write")
def unfreeze(wallet_id):
    """Make a frozen wallet active again (as the API's unfreeze: no reason, the old one is cleared)."""
    return _change_state(wallet_id, states.ACTIVE, None, "unfrozen")


@bp.post("/wallets/<wallet_id>/close")
@needs("wallets:write")
def close(wallet_id):
    """Close an empty wallet for good, saying why."""
    return _change_state(wallet_id, states.CLOSED, forms.state_change_body()["reason"], "closed")
