"""The event feed: oldest first, a page at a time, so a consumer resumes where it stopped."""
from flask import Blueprint, current_app, g, request

from app import ledger, render
from app.web import auth
from app.ledger import events
from app.routes import choice
from app.web.pagination import page_limit, position_cursor, read_position_cursor

bp = Blueprint("events", __name__)
CURSOR_KIND = "evt"


def _event_id(text):
    return text.startswith("evt_") and text[4:].isalnum() and text.isascii()


def own_wallet_id():
    """None for the operator (every event); the caller's wallet for a client."""
    if g.caller.is_operator:
        return None
    wallet = ledger.get_client_wallet(g.store, g.caller.client_id)
    return wallet["_id"] if wallet else "wal_none"


def settled_before():
    settle_ms = current_app.config["EVENTS_SETTLE_MS"]
    if settle_ms is None:
        settle_ms = g.store.settle_ms
    return events.horizon(settle_ms)


@bp.get("/events")
@auth.required()
def list_events():
    """Events of the caller's wallet (the operator: all), oldest first."""
    limit, wanted, after = page_limit(), choice("type", events.EVENT_TYPES), request.args.get("after")
    cursor = read_position_cursor(after, CURSOR_KIND, _event_id, legacy=True) if after is not None else None
    found, has_more = events.list_events(g.store, limit, settled_before(),
                                         cursor, own_wallet_id(), wanted)
    return {"data": [render.event(e) for e in found], "has_more": has_more,
            "next_cursor": position_cursor(found[-1], CURSOR_KIND) if found else after}
