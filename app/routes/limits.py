"""A wallet's limits: what they are, what is used today, and the operator setting them."""
from flask import Blueprint, g

from app import render
from app.web import auth
from app.ledger import limits
from app.routes.wallets import readable_wallet
from app.web.validation import json_body

bp = Blueprint("limits", __name__)


@bp.get("/wallets/<wallet_id>/limits")
@auth.required()
def get_limits(wallet_id):
    """The wallet's limits, today's (UTC) usage and what is left of each."""
    readable_wallet(wallet_id)
    return render.limits_status(limits.status(g.store, wallet_id))


@bp.put("/wallets/<wallet_id>/limits")
@auth.required(client=False)
def put_limits(wallet_id):
    """Set or remove (null) the wallet's limits; fields left out keep their value (operator only)."""
    changes = limits.parse(json_body("limits_update"))
    wallet = limits.set_limits(g.store, wallet_id, changes)
    return render.limits(limits.effective(wallet))
