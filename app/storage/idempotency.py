"""Idempotency records: a key, a fingerprint of the request, and its outcome.

Written in the same unit of work as the effect, so either both exist or
neither does. Keys are scoped to the caller; both engines drop them after
IDEMPOTENCY_TTL_S, and the embedded engine keeps at most IDEMPOTENCY_MAX_PER_SCOPE
per scope (app/storage/embedded; its memory is the process's, MongoDB's disk bounds it there).
"""
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from app import errors


@dataclass(frozen=True)
class IdempotencyKey:
    scope: str
    key: str
    fingerprint: str


def fingerprint(secret, method, path, body):
    """A keyed hash of the request: a body may hold a password, so no bare SHA-256."""
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def lookup(tx, idem):
    """The recorded outcome for this key, None if new; refuses a reused key."""
    record = tx.idempotency.find_one({"scope": idem.scope, "key": idem.key})
    if record is None:
        return None
    if not hmac.compare_digest(record["fingerprint"], idem.fingerprint):
        raise errors.IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request; use a new key")
    return record["outcome"]


def record(tx, idem, outcome):
    tx.idempotency.insert_one({
        "scope": idem.scope, "key": idem.key, "fingerprint": idem.fingerprint,
        "outcome": outcome, "created_at": datetime.now(timezone.utc).replace(tzinfo=None),
    })
