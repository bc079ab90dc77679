"""API keys: a tenant's operators, each with scopes (``resource:action`` or ``*``).

The secret ``sk_<key id hex>_<random>`` is shown once; only its SHA-256 is stored (the
secret has 192 random bits, so a fast hash is enough) and compared in constant time. The
key id inside the secret finds the document without an index on the hash.
"""
import hashlib
import hmac
import secrets

from pymongo import ReturnDocument

from app import errors
from app.ledger import admin_log, quotas
from app.ledger.units import new_id, now

QUOTA = "api_key"  # each live key holds a slot of the tenant's max_api_keys
SECRET_PREFIX = "sk_"
LAST_USED_EVERY_S = 60  # last_used_at is written at most once a minute per key


def _digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def insert_key(tx, name, scopes, moment, most):
    """Insert a new active key in the unit ``tx`` (taking a quota slot when ``most`` is set);
    returns (key document, secret)."""
    key_id = new_id("key")
    secret = f"{SECRET_PREFIX}{key_id[4:]}_{secrets.token_urlsafe(24)}"
    key = {"_id": key_id, "name": name, "scopes": sorted(set(scopes)), "status": "active",
           "secret_hash": _digest(secret), "created_at": moment, "last_used_at": None}
    if most is not None:
        slot = quotas.take(tx, QUOTA, tx.tenant_id, most, key_id)
        if slot is None:
            raise errors.ServiceLimitReached(f"the tenant has {most} API keys (max_api_keys)",
                                             limit="max_api_keys")
        key["quota_slot"] = slot
    tx.api_keys.insert_one(key)
    return key, secret


def create_key(store, name, scopes, most):
    def work(tx):
        key, secret = insert_key(tx, name, scopes, now(), most)
        admin_log.append(tx, "api_key.created", {"type": "api_key", "id": key["_id"]},
                         after={"name": name, "scopes": key["scopes"]})
        return key, secret
    return store.transaction(work)


def list_keys(store):
    return store.read(lambda db: list(db.api_keys.find({"status": "active"}).sort("created_at", 1)))


def revoke_key(store, key_id):
    """Revoke at once (a conditional update on its status) and give its slot back."""
    def work(tx):
        key = tx.api_keys.find_one_and_update(
            {"_id": key_id, "status": "active"}, {"$set": {"status": "revoked", "revoked_at": now()}},
            return_document=ReturnDocument.AFTER)
        if key is None:
            raise errors.ApiKeyNotFound(f"no API key {key_id}")
        quotas.give_back(tx, QUOTA, tx.tenant_id, key.get("quota_slot"))
        admin_log.append(tx, "api_key.revoked", {"type": "api_key", "id": key_id},
                         before={"status": "active"}, after={"status": "revoked"})
        return key
    return store.transaction(work)


def authenticate(across, secret):
    """The active key this secret belongs to, or None; marks it used (at most once a minute)."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    key_hex, _, _ = secret[len(SECRET_PREFIX):].partition("_")
    if len(key_hex) != 24 or not all(c in "0123456789abcdef" for c in key_hex):
        return None
    key = across.read(lambda db: db.api_keys.find_one({"_id": f"key_{key_hex}"}))
    if key is None or key["status"] != "active" or \
            not hmac.compare_digest(key["secret_hash"], _digest(secret)):
        return None
    moment = now()
    last = key.get("last_used_at")
    if last is None or (moment - last).total_seconds() >= LAST_USED_EVERY_S:
        across.atomic(lambda db: db.api_keys.update_one(
            {"_id": key["_id"], "$or": [{"last_used_at": None}, {"last_used_at": {"$lt": moment}}]},
            {"$set": {"last_used_at": moment}}))
    return key
