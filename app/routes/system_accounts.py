"""The system accounts (bank, payouts), for the operator."""
from flask import Blueprint, g

from app import ledger, render
from app.web import auth

bp = Blueprint("system_accounts", __name__)


@bp.get("/system-accounts")
@auth.required(client=False)
def list_system_accounts():
    """Each system account with its balance, the sum of its shards."""
    totals = ledger.system_accounts(g.store)
    return {"data": [render.system_account(total) for total in totals]}
