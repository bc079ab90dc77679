"""Webhook endpoints and their deliveries: registration, listing, deletion, a manual retry.

An endpoint belongs to a client (it receives events of that client's wallet
only) or to the operator (every event). Every change of state is one conditional
update on the current state, so two concurrent callers get one winner.
"""
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app import errors
from app.ledger import admin_log, quotas
from app.ledger.units import new_id, now
from app.storage import schema
from app.storage.tenancy import DEFAULT_TENANT

OPERATOR_OWNER = "operator"  # the owner of the operator's endpoints (a client's: its client id)

ENABLED, DISABLED, DELETED = "enabled", "disabled", "deleted"
PENDING, DELIVERING, DELIVERED, FAILED = "pending", "delivering", "delivered", "failed"
MAX_ENDPOINTS = 16  # per owner: a cap on the fan-out one caller can make us do
QUOTA = "webhook_endpoint"  # the quota (app/ledger/quotas.py) each live endpoint holds a slot of
TENANT_QUOTA = "tenant_webhook_endpoint"  # and a slot of its tenant's max_webhook_endpoints


def create_endpoint(store, owner, wallet_id, url, event_types, secret, tenant_most):
    """Register an endpoint (url already checked by the outbound guard); returns its document.
    At most MAX_ENDPOINTS per owner and ``tenant_most`` per tenant (max_webhook_endpoints)."""
    doc = {"_id": new_id("we"), "owner": owner, "wallet_id": wallet_id, "url": url,
           "events": event_types, "secret": secret, "status": ENABLED, "created_at": now(),
           "failing_since": None}

    def work(tx):
        slot = quotas.take(tx, QUOTA, owner, MAX_ENDPOINTS, doc["_id"])
        if slot is None:
            raise errors.TooManyWebhookEndpoints(f"at most {MAX_ENDPOINTS} endpoints per caller")
        tenant_slot = quotas.take(tx, TENANT_QUOTA, tx.tenant_id, tenant_most, doc["_id"])
        if tenant_slot is None:
            raise errors.ServiceLimitReached(
                f"the tenant has {tenant_most} webhook endpoints (max_webhook_endpoints)",
                limit="max_webhook_endpoints")
        tx.webhook_endpoints.insert_one(dict(doc, quota_slot=slot, tenant_quota_slot=tenant_slot))
        _log_if_operator(tx, owner, "webhook_endpoint.created", doc["_id"], after={
            "url": url, "events": event_types, "wallet_id": wallet_id})
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
    """Mark it deleted and give its quota slot back (its pending deliveries then fail); one
    caller wins, the other gets 404."""
    def work(tx):
        doc = tx.webhook_endpoints.find_one_and_update(
            {"_id": endpoint_id, "owner": owner, "status": {"$ne": DELETED}},
            {"$set": {"status": DELETED, "deleted_at": now()}}, return_document=ReturnDocument.AFTER)
        if doc is None:
            raise errors.WebhookEndpointNotFound(f"no webhook endpoint {endpoint_id}")
        quotas.give_back(tx, QUOTA, owner, doc.get("quota_slot"))
        quotas.give_back(tx, TENANT_QUOTA, tx.tenant_id, doc.get("tenant_quota_slot"))
        _log_if_operator(tx, owner, "webhook_endpoint.deleted", endpoint_id, before={"url": doc["url"]})
        return doc

    return store.transaction(work)


def lane_owner(endpoint):
    """A delivery's ``owner``, whom the dispatcher's lanes share attempts between: a client, or
    one tenant's operator (``operator@<tenant>``)."""
    owner = endpoint["owner"]
    return f"{owner}@{endpoint['tenant_id']}" if owner == OPERATOR_OWNER else owner


def operators_lane(owner):
    """Whether a delivery's ``owner`` (``lane_owner``; plain ``operator`` before tenants) is an operator's."""
    return owner == OPERATOR_OWNER or str(owner).startswith(OPERATOR_OWNER + "@")


def _log_if_operator(tx, owner, action, endpoint_id, **states):
    """The operator's endpoints are administration (admin log); a client's own are not."""
    if owner == OPERATOR_OWNER:
        admin_log.append(tx, action, {"type": "webhook_endpoint", "id": endpoint_id}, **states)


def backfill_quota_slots(collections):
    """Give every live endpoint made before quotas its slot (``db init``; idempotent)."""
    for doc in collections["webhook_endpoints"].find(
            {"status": {"$ne": DELETED}, "quota_slot": {"$exists": False}}, {"owner": 1, "tenant_id": 1}):
        used = {s["slot"] for s in collections["quota_slots"].find(
            {"kind": QUOTA, "owner": doc["owner"], "tenant_id": doc.get("tenant_id", DEFAULT_TENANT)})}
        slot = next(n for n in range(len(used) + 1) if n not in used)  # may pass the cap: kept, not refused
        collections["quota_slots"].insert_one(
            {"kind": QUOTA, "owner": doc["owner"], "slot": slot, "holder_id": doc["_id"],
             "tenant_id": doc.get("tenant_id", DEFAULT_TENANT)})
        collections["webhook_endpoints"].update_one({"_id": doc["_id"]}, {"$set": {"quota_slot": slot}})


def list_deliveries(store, endpoint_id, limit=50):
    return store.read(lambda db: list(db.deliveries.find(
        {"endpoint_id": endpoint_id}, hint=schema.DELIVERIES_INDEX).sort(
        [("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)))


def retry_delivery(store, endpoint_id, delivery_id):
    """Due now again, whatever its state, unless a dispatcher holds it right now (409)."""
    moment = now()

    def work(tx):
        before = tx.deliveries.find_one_and_update(
            {"_id": delivery_id, "endpoint_id": endpoint_id,
             "$or": [{"status": {"$ne": DELIVERING}}, {"lease_until": {"$lt": moment}}]},
            {"$set": {"status": PENDING, "next_attempt_at": moment, "lease_until": None,
                      "lease_owner": None}})
        if before is None:
            if tx.deliveries.find_one({"_id": delivery_id, "endpoint_id": endpoint_id}, {"_id": 1}) is None:
                raise errors.DeliveryNotFound(f"no delivery {delivery_id}")
            raise errors.DeliveryInProgress(f"delivery {delivery_id} is being sent right now")
        if operators_lane(before.get("owner")):
            admin_log.append(tx, "delivery.retried", {"type": "delivery", "id": delivery_id},
                             before={"status": before["status"]}, after={"status": PENDING})
        return tx.deliveries.find_one({"_id": delivery_id})

    return store.transaction(work)
