"""Fan-out: one delivery document per event and target, made once however many dispatchers run.

No Flask here. The targets of an event are the enabled webhook endpoints that want
it (a client's: events of its wallet; the operator's: all of its tenant's) and, with SMTP_URL, one
e-mail notice per wallet whose money moved. Each delivery names its ``owner`` (the
client, or "operator"): the dispatcher's lanes share their slots between owners.
"""
import time

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from app.ledger import events
from app.ledger.units import new_id
from app.ledger.webhooks import ENABLED, PENDING, lane_owner
from app.money import format_cents

BATCH = 100  # events fanned out per round


def _matches(endpoint, event):
    if endpoint["tenant_id"] != event["tenant_id"]:  # a tenant's endpoints hear its own events only
        return False
    wanted = "*" in endpoint["events"] or event["type"] in endpoint["events"]
    mine = endpoint["wallet_id"] is None or endpoint["wallet_id"] in event["wallet_ids"]
    return wanted and mine and endpoint["created_at"] <= event["created_at"]


def _delivery(event, target, moment, **fields):
    return dict({"_id": new_id("dlv"), "event_id": event["_id"], "event_type": event["type"],
                 "target": target, "status": PENDING, "attempts": [], "attempt_count": 0,
                 "next_attempt_at": moment, "lease_until": None, "lease_owner": None,
                 "created_at": moment, "delivered_at": None, "endpoint_id": None, "owner": None,
                 "tenant_id": event["tenant_id"]}, **fields)


def _notices(db, event, moment):
    """One e-mail per wallet whose money went in or out in this event's transfer."""
    path = events.EVENT_TYPES[event["type"]].transfer_field
    transfer_id = event["data"]
    for key in path.split(".") if path else ():
        transfer_id = transfer_id.get(key) if isinstance(transfer_id, dict) else None
    transfer_id = transfer_id if path else None
    notices = []
    for entry in db.operations.find({"transfer_id": transfer_id}) if transfer_id else ():
        wallet = db.wallets.find_one({"_id": entry["wallet_id"]}, {"client_id": 1})
        client = db.clients.find_one({"_id": wallet["client_id"]}, {"email": 1, "name": 1})
        direction = "in" if entry["amount_cents"] > 0 else "out"
        counterparty = entry["counterparty_wallet_id"] or "the bank (deposit)"
        text = (f"Hello {client['name']},\n\nMoney {direction}: {format_cents(abs(entry['amount_cents']))} "
                f"USD, {'from' if direction == 'in' else 'to'} {counterparty}.\n"
                f"Balance after: {format_cents(entry['balance_after_cents'])} USD.\n"
                f"Wallet {entry['wallet_id']}, transfer {transfer_id}.\n")
        message = {"to": client["email"], "text": text,
                   "subject": f"Money {direction}: {format_cents(abs(entry['amount_cents']))} USD"}
        notices.append(_delivery(event, f"email:{entry['wallet_id']}", moment, kind="email",
                                 owner=wallet["client_id"], message=message))
    return notices


def fan_out(dispatcher, moment):
    """Make the deliveries of events not yet fanned out; return how many events were."""
    store, smtp = dispatcher.store, dispatcher.config["SMTP_URL"]
    pending = store.read(lambda db: list(db.events.find({"pending_fanout": True}).sort(
        "created_at", ASCENDING).limit(BATCH)))
    if not pending:
        return 0
    endpoints = store.read(lambda db: list(db.webhook_endpoints.find({"status": ENABLED})))
    for event in pending:
        targets = [_delivery(event, endpoint["_id"], moment, kind="webhook", endpoint_id=endpoint["_id"],
                             owner=lane_owner(endpoint))
                   for endpoint in endpoints if _matches(endpoint, event)]
        if smtp:
            targets += store.read(lambda db: _notices(db, event, moment))
        for delivery in targets:
            try:
                store.atomic(lambda db: db.deliveries.insert_one(delivery))
            except DuplicateKeyError:
                pass  # another dispatcher made it first
        time.sleep(0)  # yield: in the gevent server a CPU-bound loop would stall every request
    # One write for the batch. A crash before it fans these out again: the unique
    # (event, target) index turns the repeats into DuplicateKeyErrors, skipped above.
    fanned = [event["_id"] for event in pending]
    store.atomic(lambda db: db.events.update_many(
        {"_id": {"$in": fanned}}, {"$unset": {"pending_fanout": ""}}))
    return len(pending)
