"""The event feed: oldest first, a page at a time, so a consumer resumes where it stopped."""
import base64
import binascii
from datetime import datetime

from flask import Blueprint, current_app, g, request

from app import auth, errors, ledger, render
from app.ledger import events
from app.routes.wallets import page_limit

bp = Blueprint("events", __name__)
STAMP = "%Y-%m-%dT%H:%M:%S.%f"
# Longer than a MongoDB transaction can live (transactionLifetimeLimitSeconds, 60 s) plus the
# commit's time limit: no event older than this can still be uncommitted.
MONGODB_SETTLE_MS = 75_000


def encode_cursor(event):
    text = f"{event['created_at'].strftime(STAMP)}|{event['_id']}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor):
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, event_id = text.partition("|")
        if not (event_id.startswith("evt_") and event_id[4:].isalnum() and event_id.isascii()):
            raise ValueError(text)
        return datetime.strptime(moment, STAMP), event_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.InvalidCursor("after must be a next_cursor from an earlier page") from None


def event_type():
    wanted = request.args.get("type")
    if wanted is not None and wanted not in events.EVENT_TYPES:
        raise errors.ValidationFailed("type is not valid", errors=[
            {"field": "type", "message": f"must be one of {', '.join(events.EVENT_TYPES)}"}])
    return wanted


def own_wallet_id():
    """None for the operator (every event); the caller's wallet for a client."""
    if g.caller.is_operator:
        return None
    wallet = ledger.get_client_wallet(current_app.extensions["store"], g.caller.client_id)
    return wallet["_id"] if wallet else "wal_none"


def settled_before():
    settle_ms = current_app.config["EVENTS_SETTLE_MS"]
    if settle_ms is None:
        settle_ms = 0 if current_app.extensions["store"].engine == "embedded" else MONGODB_SETTLE_MS
    return events.horizon(settle_ms)


@bp.get("/events")
@auth.required()
def list_events():
    """Events of the caller's wallet (the operator: all), oldest first."""
    limit, wanted, after = page_limit(), event_type(), request.args.get("after")
    cursor = decode_cursor(after) if after is not None else None
    found, has_more = events.list_events(current_app.extensions["store"], limit, settled_before(),
                                         cursor, own_wallet_id(), wanted)
    return {"data": [render.event(e) for e in found], "has_more": has_more,
            "next_cursor": encode_cursor(found[-1]) if found else after}
