"""Sign-up and the signed-in client."""
from flask import Blueprint, current_app, g

from app import errors, ledger, render
from app.web import auth
from app.web.auth import service_limit
from app.routes import created, idempotency_key
from app.web.validation import json_body

bp = Blueprint("clients", __name__)


@bp.post("/clients")
@auth.optional
def create_client():
    """Create a client and its USD wallet."""
    body = json_body("client_create")
    password_hash = current_app.extensions["auth"].hash_password(body["password"])
    result, replayed = ledger.create_client(
        g.store, body["email"], body["name"], password_hash,
        idem=idempotency_key("public", body), limits=current_app.extensions["default_limits"],
        metadata=body.get("metadata"), most=service_limit("max_clients"))
    return created(render.client_with_wallet(result["client"], result["wallet"]), replayed)


@bp.get("/clients/me")
@auth.required(operator=False)
def me():
    """The calling client with its wallet."""
    store = g.store
    client = ledger.get_client(store, g.caller.client_id)
    wallet = ledger.get_client_wallet(store, g.caller.client_id)
    if client is None or wallet is None:
        raise errors.NotFound("this client no longer exists")
    return render.client_with_wallet(client, wallet)
