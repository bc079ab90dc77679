"""Log-in: email and password for a bearer token."""
from flask import Blueprint, current_app

from app import errors, ledger
from app.web.validation import json_body

bp = Blueprint("tokens", __name__)


@bp.post("/auth/token")
def issue_token():
    """Exchange email and password for a client bearer token."""
    body = json_body("token_create")
    auth = current_app.extensions["auth"]
    client = ledger.find_login(current_app.extensions["store"], body["email"])
    if not auth.password_matches(client and client["password_hash"], body["password"]):
        raise errors.InvalidCredentials("email or password is wrong")
    return {"access_token": auth.issue_token(client["_id"]), "token_type": "Bearer",
            "expires_in": auth.lifetime_s}
