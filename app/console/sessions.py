"""Console sessions, kept on the server: the cookie holds a random token, never a secret.

A session record is stored under the SHA-256 of the cookie's token (a copy of the
collection alone opens no session) with who signed in (``actor``), a keyed hash of the
secret used (``credential_mark``: rotating that secret ends the session), the session's
CSRF token and when it expires. Signing out deletes the record, so a copied cookie is
worthless from then on; the TTL index removes expired records, and every read checks
``expires_at`` itself (the TTL monitor runs only once a minute). No Flask here.
"""
import hashlib
import secrets
from datetime import timedelta

from app.ledger import units


def _record_id(token):
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(store, actor, credential_mark, lifetime_s, tenant_id):
    """A new session for ``actor`` acting in ``tenant_id``: (cookie token, record). Sessions are
    found by their token before any tenant is known: ``store`` is every tenant's."""
    token = secrets.token_urlsafe(32)
    moment = units.now()
    record = {"_id": _record_id(token), "actor": dict(actor), "credential_mark": credential_mark,
              "csrf_token": secrets.token_urlsafe(32), "created_at": moment,
              "expires_at": moment + timedelta(seconds=lifetime_s), "tenant_id": tenant_id}
    store.atomic(lambda db: db.console_sessions.insert_one(record))
    return token, record


def find_session(store, token):
    """The live record of a cookie token, or None (unknown, ended or expired)."""
    if not token or len(token) > 128:
        return None
    record_id, moment = _record_id(token), units.now()
    return store.read(lambda db: db.console_sessions.find_one(
        {"_id": record_id, "expires_at": {"$gt": moment}}))


def end_session(store, record_id):
    """Delete the record: the cookie opens nothing from now on."""
    store.atomic(lambda db: db.console_sessions.delete_one({"_id": record_id}))
