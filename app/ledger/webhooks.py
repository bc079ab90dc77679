"""Webhook endpoints and their deliveries: registration, listing, deletion, a manual retry.

An endpoint belongs to a client (it receives events of that client's wallet
only) or to the operator (every event). Every change of state is one conditional
update on the current state, so two concurrent callers get one winner.
"""
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app import errors
from app.ledger.units import new_id, now
from app.storage import schema

ENABLED, DISABLED, DELETED = "enabled", "disabled", "deleted"
PENDING, DELIVERING, DELIVERED, FAILED = "pending", "delivering", "delivered", "failed"
MAX_ENDPOINTS = 16  # per owner: a cap on the fan-out one caller can make us do


def create_endpoint(store, owner, wallet_id, url, event_types, secret):
    """Register an endpoint (url already checked by the outbound guard); returns its document."""
    doc = {"_id": new_id("we"), "owner": owner, "wallet_id": wallet_id, "url": url,
           "events": event_types, "secret": secret, "status": ENABLED, "created_at": now(),
           "failing_since": None}

    def work(tx):
        live = tx.webhook_endpoints.count_documents({"owner": owner, "status": {"$ne": DELETED}})
        if live >= MAX_ENDPOINTS:
            raise errors.TooManyWebhookEndpoints(f"at most {MAX_ENDPOINTS} endpoints per caller")
        tx.webhook_endpoints.insert_one(doc)
        return doc

    return store.transaction(work)


def list_endpoints(store, owner):
    return store.read(lambda db: list(db.webhook_endpoints.find(
        {"owner": owner, "status": {"$ne": DELETED}}).sort("created_at", ASCENDING)))


def get_endpoint(store, owner, endpoint_id):
    """The caller's endpoint; 404 for one that is missing, deleted or someone else's."""
    doc = store.read(lambda db: db.webhook_endpoints.find_one(
        {"_id": endpoint_id, "owner": owner, "status": {"$ne": DELETED}}))
    if doc is None:
        raise errors.WebhookEndpointNotFound(f"no webhook endpoint {endpoint_id}")
    return doc


def delete_endpoint(store, owner, endpoint_id):
    """Mark it deleted (its pending deliveries then fail); one caller wins, the other gets 404."""
    doc = store.atomic(lambda db: db.webhook_endpoints.find_one_and_update(
        {"_id": endpoint_id, "owner": owner, "status": {"$ne": DELETED}},
        {"$set": {"status": DELETED, "deleted_at": now()}}, return_document=ReturnDocument.AFTER))
    if doc is None:
        raise errors.WebhookEndpointNotFound(f"no webhook endpoint {endpoint_id}")
    return doc


def list_deliveries(store, endpoint_id, limit=50):
    return store.read(lambda db: list(db.deliveries.find(
        {"endpoint_id": endpoint_id}, hint=schema.DELIVERIES_INDEX).sort(
        [("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)))


def retry_delivery(store, endpoint_id, delivery_id):
    """Due now again, whatever its state, unless a dispatcher holds it right now (409)."""
    moment = now()
    found = store.read(lambda db: db.deliveries.find_one(
        {"_id": delivery_id, "endpoint_id": endpoint_id}, {"_id": 1}))
    if found is None:
        raise errors.DeliveryNotFound(f"no delivery {delivery_id}")
    doc = store.atomic(lambda db: db.deliveries.find_one_and_update(
        {"_id": delivery_id, "endpoint_id": endpoint_id,
         "$or": [{"status": {"$ne": DELIVERING}}, {"lease_until": {"$lt": moment}}]},
        {"$set": {"status": PENDING, "next_attempt_at": moment, "lease_until": None,
                  "lease_owner": None}},
        return_document=ReturnDocument.AFTER))
    if doc is None:
        raise errors.DeliveryInProgress(f"delivery {delivery_id} is being sent right now")
    return doc
