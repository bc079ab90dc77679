"""Idempotency records: a key, a fingerprint of the request, and its outcome.

Written in the same unit of work as the effect, so either both exist or
neither does. Keys are scoped to the caller; both engines keep them IDEMPOTENCY_TTL_S and
never forget one sooner. The embedded engine keeps at most IDEMPOTENCY_MAX_PER_SCOPE
unexpired ones per scope (app/storage/embedded; its memory is the process's, MongoDB's disk
bounds it there): the unit that would record one more is refused where the record is
inserted, so the whole unit is undone and the answer is 503 ``idempotency_store_full``.
"""
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from pymongo.errors import DuplicateKeyError

from app import errors
from app.storage.unit import StoreFull

# Retry-After when the store cannot tell when room comes back (a bound without a TTL).
UNKNOWN_RETRY_AFTER_S = 60


class KeyTaken(Exception):
    """The key's record is already there: the unique index refused ours, and the unit must end."""


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
    """Record the outcome under the key; IdempotencyStoreFull (the unit is undone) past the bound.

    KeyTaken when the unique index on (scope, key) holds a record already: the unit must
    abort (on MongoDB the failed insert has ended its transaction) and the caller replays it.
    """
    try:
        tx.idempotency.insert_one({
            "scope": idem.scope, "key": idem.key, "fingerprint": idem.fingerprint,
            "outcome": outcome, "created_at": datetime.now(timezone.utc).replace(tzinfo=None),
        })
    except StoreFull as full:
        raise _store_full(full) from None
    except DuplicateKeyError:
        raise KeyTaken(idem.key) from None


def _store_full(full):
    refusal = errors.IdempotencyStoreFull(
        f"this server keeps at most {full.most} unexpired Idempotency-Keys per caller "
        "(IDEMPOTENCY_MAX_PER_SCOPE) and nothing was done; retry after Retry-After seconds, "
        "when the oldest expires")
    refusal.headers = {"Retry-After": str(full.retry_after_s or UNKNOWN_RETRY_AFTER_S)}
    return refusal
