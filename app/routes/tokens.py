"""Log-in: email and password for a bearer token."""
from flask import Blueprint, current_app, g

from app import errors, ledger
from app.storage.tenancy import DEFAULT_TENANT
from app.web import auth as web_auth
from app.web.validation import json_body

bp = Blueprint("tokens", __name__)


@bp.post("/auth/token")
def issue_token():
    """Exchange email and password for a client bearer token."""
    body = json_body("token_create")
    auth = current_app.extensions["auth"]
    tenant_id = body.get("tenant_id", DEFAULT_TENANT)
    web_auth.public_in(tenant_id)  # an unknown tenant finds nobody: the same 401
    client = ledger.find_login(g.store, body["email"])
    if not auth.password_matches(client and client["password_hash"], body["password"]):
        raise errors.InvalidCredentials("email or password is wrong")
    return {"access_token": auth.issue_token(client["_id"], tenant_id), "token_type": "Bearer",
            "expires_in": auth.lifetime_s}
