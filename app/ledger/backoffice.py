"""Reads the operators' console needs beyond the API's: what waits for a person, and lookups.

Each count or list reads through an index the API's own queries already keep
(app/storage/schema.py): nothing here scans a collection.
"""
from datetime import datetime, time, timedelta

from pymongo import ASCENDING

from app.ledger import expiry, payment_requests, units
from app.ledger.webhooks import FAILED, PENDING

MANUAL = "manual"
# The id prefixes of app/ledger (units.new_id) -> what the console looks such an id up as.
KINDS = {"wal": "wallet", "cli": "client", "tr": "transfer", "hold": "hold", "wd": "withdrawal",
         "pr": "payment_request"}


def end_of_day(moment):
    return datetime.combine(moment.date() + timedelta(days=1), time())


def attention(store, moment):
    """Counts of what waits for a person: manual withdrawals processing, webhook deliveries that
    failed for good, and pending holds expiring before the end of today (UTC)."""
    def read(db):
        return {
            "manual_withdrawals": db.withdrawals.count_documents(
                {"status": "processing", "provider": MANUAL}),
            "failed_deliveries": db.deliveries.count_documents({"status": FAILED, "kind": "webhook"}),
            "holds_expiring_today": db.holds.count_documents(
                {"status": "pending", "expires_at": {"$gt": moment, "$lt": end_of_day(moment)}}),
        }
    return store.read(read)


def manual_queue(store, limit):
    """Withdrawals processing on the manual provider, longest waiting first; and whether more wait."""
    page = store.read(lambda db: list(db.withdrawals.find(
        {"status": "processing", "provider": MANUAL}).sort("updated_at", ASCENDING).limit(limit + 1)))
    return page[:limit], len(page) > limit


def troubled_deliveries(store, limit):
    """Webhook deliveries that failed for good, and those being retried (pending after an attempt),
    grouped by endpoint: [(endpoint document or None, [deliveries])], newest first in each."""
    def read(db):
        failed = list(db.deliveries.find({"status": FAILED, "kind": "webhook"}).limit(limit))
        retrying = list(db.deliveries.find(
            {"status": PENDING, "kind": "webhook", "attempt_count": {"$gte": 1}}).sort(
            "next_attempt_at", ASCENDING).limit(limit))
        endpoint_ids = list({d["endpoint_id"] for d in failed + retrying})
        endpoints = {e["_id"]: e for e in db.webhook_endpoints.find({"_id": {"$in": endpoint_ids}},
                                                                    {"secret": 0})}
        return failed + retrying, endpoints

    found, endpoints = store.read(read)
    groups = {}
    for delivery in sorted(found, key=lambda d: (d["created_at"], d["_id"]), reverse=True):
        groups.setdefault(delivery["endpoint_id"], []).append(delivery)
    return [(endpoints.get(endpoint_id), deliveries) for endpoint_id, deliveries in groups.items()]


def kind_of(identifier):
    """What an id names by its prefix ("wallet", "transfer", ...), None for no id of ours."""
    prefix, sep, rest = identifier.partition("_")
    return KINDS.get(prefix) if sep and rest else None


def find(store, query):
    """(kind, document) for an email (the client) or an id of ours; (None, None) if nothing."""
    query = query.strip()
    if "@" in query:
        found = store.read(lambda db: db.clients.find_one({"email_key": query.lower()},
                                                          {"password_hash": 0}))
        return ("client", found) if found else (None, None)
    kind = kind_of(query)
    if kind is None:
        return None, None
    if kind == "payment_request":
        found = payment_requests.get(store, query)
    else:
        collection = {"wallet": "wallets", "client": "clients", "transfer": "transfers",
                      "hold": "holds", "withdrawal": "withdrawals"}[kind]
        found = store.read(lambda db: getattr(db, collection).find_one({"_id": query}, {"password_hash": 0}))
        if kind == "hold":
            found = expiry.as_of(found, units.now())
    return (kind, found) if found else (None, None)


def wallet_of_client(store, client_id):
    """The client's wallet document (one per client), or None."""
    return store.read(lambda db: db.wallets.find_one({"client_id": client_id}, {"_id": 1}))
