"""Balance monitors of a wallet: the operator's or the wallet owner's."""
from flask import Blueprint, g

from app import render
from app.ledger import monitors
from app.money import parse_cents
from app.routes import created
from app.web import auth
from app.web.validation import json_body

bp = Blueprint("monitors", __name__)


def _owner():
    """None for the operator (any wallet of its tenant); the client itself otherwise."""
    return None if g.caller.is_operator else g.caller.client_id


@bp.post("/wallets/<wallet_id>/balance-monitors")
@auth.required()
def create_monitor(wallet_id):
    """Watch a wallet's balance or available money cross a line."""
    body = json_body("balance_monitor_create")
    monitor = monitors.create(g.store, wallet_id, _owner(), body["field"], body["condition"],
                              parse_cents(body["amount"]), body.get("description"))
    return created(render.balance_monitor(monitor, wallet_id), False)


@bp.get("/wallets/<wallet_id>/balance-monitors")
@auth.required()
def list_monitors(wallet_id):
    """The wallet's monitors, oldest first."""
    return {"data": [render.balance_monitor(m, wallet_id)
                     for m in monitors.list_monitors(g.store, wallet_id, _owner())]}


@bp.get("/wallets/<wallet_id>/balance-monitors/<monitor_id>")
@auth.required()
def get_monitor(wallet_id, monitor_id):
    """One monitor."""
    return render.balance_monitor(monitors.get(g.store, wallet_id, _owner(), monitor_id), wallet_id)


@bp.delete("/wallets/<wallet_id>/balance-monitors/<monitor_id>")
@auth.required()
def delete_monitor(wallet_id, monitor_id):
    """Stop watching; the monitor as it was."""
    return render.balance_monitor(monitors.delete(g.store, wallet_id, _owner(), monitor_id), wallet_id)
