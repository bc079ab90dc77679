"""Payment requests: the payee asks, the payer approves or declines."""
from flask import Blueprint, current_app, g, request

from app import errors, render
from app.web import auth
from app.web.auth import service_limit
from app.ledger import payment_requests
from app.money import parse_cents
from app.routes import choice, count_moved, created, idempotency_key
from app.web.pagination import page_limit, position_cursor, read_position_cursor
from app.web.validation import json_body

bp = Blueprint("payment_requests", __name__)
CURSOR_KIND = "pr"
DEFAULT_EXPIRES_IN_S = 7 * 24 * 3600


def store():
    return g.store


@bp.post("/payment-requests")
@auth.required(operator=False)
def create_request():
    """Ask another wallet for money, to one of the caller's wallets."""
    body = json_body("payment_request_create")
    result, replayed = payment_requests.create(
        store(), g.caller.client_id, body["to_wallet_id"], body["from_wallet_id"],
        parse_cents(body["amount"]), body.get("details"),
        body.get("expires_in_s", DEFAULT_EXPIRES_IN_S),
        current_app.config["MAX_PENDING_REQUESTS_PER_PAYER"],
        idem=idempotency_key(g.caller.idempotency_scope, body), metadata=body.get("metadata"),
        tenant_most=service_limit("max_pending_payment_requests"))
    return created(render.payment_request(result), replayed)


@bp.post("/payment-requests/<request_id>/approve")
@auth.required(operator=False)
def approve_request(request_id):
    """The payer pays the request: the transfer it made."""
    result, replayed = payment_requests.approve(
        store(), g.caller.client_id, request_id, idem=idempotency_key(g.caller.idempotency_scope, {}))
    count_moved("transfer", result["amount_cents"], replayed)
    return created(render.transfer(result), replayed)


@bp.post("/payment-requests/<request_id>/decline")
@auth.required(operator=False)
def decline_request(request_id):
    """The payer refuses the request."""
    return render.payment_request(payment_requests.decline(store(), g.caller.client_id, request_id))


@bp.post("/payment-requests/<request_id>/cancel")
@auth.required(operator=False)
def cancel_request(request_id):
    """The payee withdraws the request."""
    return render.payment_request(payment_requests.cancel(store(), g.caller.client_id, request_id))


@bp.get("/payment-requests/<request_id>")
@auth.required()
def get_request(request_id):
    """One request, for either party or the operator."""
    found = payment_requests.get(store(), request_id)
    if found is None or not (g.caller.is_operator or g.caller.client_id in (
            found["from_client_id"], found["to_client_id"])):
        raise errors.PaymentRequestNotFound(f"no payment request {request_id}")
    return render.payment_request(found)


@bp.get("/payment-requests")
@auth.required(operator=False)
def list_requests():
    """The caller's requests, as payer or payee, newest first, a page at a time."""
    role, status = choice("role", ("payer", "payee")), choice("status", payment_requests.STATUSES)
    limit, after = page_limit(), request.args.get("after")
    before = None if after is None else read_position_cursor(after, CURSOR_KIND, _request_id, legacy=True)
    page, has_more = payment_requests.list_requests(store(), g.caller.client_id, role, status, limit, before)
    return {"data": [render.payment_request(r) for r in page], "has_more": has_more,
            "next_cursor": position_cursor(page[-1], CURSOR_KIND) if has_more else None}


def _request_id(text):
    return text.startswith("pr_") and text.isascii()
