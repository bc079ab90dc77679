"""Tenants: the platforms one deployment serves, each with its own books, keys and limits.

A tenant document lives in ``tenants`` (its ``tenant_id`` is its own id, so a tenant's
view finds only itself). Its books (system accounts, clients, wallets, everything else)
carry its id, stamped by the tenant layer (app/storage/tenancy.py). ``default`` is born
with the database (``db init``): requests with no tenant context act in it.
"""
import threading
import time

from app import errors
from app.ledger import accounts, admin_log, api_keys
from app.ledger.units import new_id, now
from app.storage.tenancy import DEFAULT_TENANT

STATUSES = ("active", "suspended")
SERVICE_LIMITS = ("max_clients", "max_api_keys", "max_webhook_endpoints",
                  "max_pending_payment_requests")


def default_document(moment):
    """The default tenant as ``db init`` makes it: config's service limits, no rate limit."""
    return {"_id": DEFAULT_TENANT, "tenant_id": DEFAULT_TENANT, "name": "default", "status": "active",
            "service_limits": None, "rate_limit": None, "version": 0, "created_at": moment,
            "updated_at": moment}


def ensure_default(collections):
    """The default tenant's document, if missing (idempotent; ``db init``)."""
    collections["tenants"].update_one({"_id": DEFAULT_TENANT},
                                      {"$setOnInsert": default_document(now())}, upsert=True)


def create_tenant(across, name, service_limits, rate_limit):
    """A new active tenant with its books (system account shards), its first key (scopes "*")
    and the admin log entry, in one unit; returns (tenant, key, secret)."""
    tenant_id = new_id("ten")
    store = across.tenant(tenant_id)

    def work(tx):
        moment = now()
        tenant = {"_id": tenant_id, "name": name, "status": "active", "service_limits": service_limits,
                  "rate_limit": rate_limit, "version": 0, "created_at": moment, "updated_at": moment}
        tx.tenants.insert_one(tenant)
        tx.system_accounts.insert_many(accounts.new_system_shards(tenant_id, moment))
        key, secret = api_keys.insert_key(tx, "initial key", ["*"], moment,
                                          most=service_limits["max_api_keys"])
        admin_log.append(tx, "tenant.created", {"type": "tenant", "id": tenant_id},
                         after=public_fields(tenant))
        return tenant, key, secret

    return store.transaction(work)


def public_fields(tenant):
    return {name: tenant[name] for name in ("name", "status", "service_limits", "rate_limit")}


def get_tenant(store, tenant_id):
    return store.read(lambda db: db.tenants.find_one({"_id": tenant_id}))


def list_tenants(across, after=None, limit=50):
    """Tenants in id order (``default`` sorts first), one page."""
    query = {} if after is None else {"_id": {"$gt": after}}
    found = across.read(lambda db: list(db.tenants.find(query).sort("_id", 1).limit(limit + 1)))
    return found[:limit], len(found) > limit


def update_tenant(across, tenant_id, changes):
    """Apply ``changes`` (top-level fields: name, status, service_limits, rate_limit) in one update
    that returns the tenant as it was, logged with before and after in the same unit;
    TenantNotFound if none. A concurrent change is a write conflict: the unit runs again."""
    store = across.tenant(tenant_id)

    def work(tx):
        moment = now()
        before = tx.tenants.find_one_and_update(
            {"_id": tenant_id}, {"$set": dict(changes, updated_at=moment), "$inc": {"version": 1}})
        if before is None:
            raise errors.TenantNotFound(f"no tenant {tenant_id}")
        after = dict(before, **changes, updated_at=moment, version=before["version"] + 1)
        admin_log.append(tx, "tenant.updated", {"type": "tenant", "id": tenant_id},
                         before=public_fields(before), after=public_fields(after))
        return after

    return store.transaction(work)


class Directory:
    """What this worker knows of each tenant (status, limits), read again after ``ttl_s``:
    a suspension or a new limit reaches every worker within that time."""

    def __init__(self, across, ttl_s, default_service_limits, default_rate_limit, clock=time.monotonic):
        self._across, self._ttl_s, self._clock = across, ttl_s, clock
        self.default_service_limits = default_service_limits
        self.default_rate_limit = default_rate_limit
        self._known, self._lock = {}, threading.Lock()

    def get(self, tenant_id):
        """The tenant's document, or None if there is no such tenant."""
        moment = self._clock()
        with self._lock:
            known = self._known.get(tenant_id)
        if known is not None and known[0] > moment:
            return known[1]
        found = get_tenant(self._across, tenant_id)
        with self._lock:
            self._known[tenant_id] = (moment + self._ttl_s, found)
        return found

    def forget(self, tenant_id):
        with self._lock:
            self._known.pop(tenant_id, None)

    def service_limit(self, tenant_id, name):
        tenant = self.get(tenant_id) or {}
        return (tenant.get("service_limits") or self.default_service_limits)[name]
