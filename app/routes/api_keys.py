"""A tenant's API keys: make one (the secret shown once), list them, revoke one."""
from flask import Blueprint, g

from app import errors, render
from app.ledger import api_keys
from app.routes import created
from app.web import auth
from app.web.auth import service_limit
from app.web.endpoints import SCOPES
from app.web.validation import json_body

bp = Blueprint("api_keys", __name__)


@bp.post("/api-keys")
@auth.required(client=False)
def create_key():
    """A new key of the caller's tenant with the scopes asked for."""
    body = json_body("api_key_create")
    unknown = [(n, scope) for n, scope in enumerate(body["scopes"]) if scope not in SCOPES]
    if unknown:
        raise errors.ValidationFailed("scopes are not valid", errors=[
            {"field": f"scopes/{n}", "message": f"{scope} is not a scope; one of {', '.join(SCOPES)}"}
            for n, scope in unknown])
    key, secret = api_keys.create_key(g.store, body["name"], body["scopes"], service_limit("max_api_keys"))
    return created(render.api_key(key, secret), False)


@bp.get("/api-keys")
@auth.required(client=False)
def list_keys():
    """The tenant's active keys, oldest first, without secrets."""
    return {"data": [render.api_key(key) for key in api_keys.list_keys(g.store)]}


@bp.delete("/api-keys/<key_id>")
@auth.required(client=False)
def revoke_key(key_id):
    """Revoke a key: it is refused from the next request on."""
    return render.api_key(api_keys.revoke_key(g.store, key_id))
