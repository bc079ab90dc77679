"""Blueprints, one per resource, and the helpers their views share."""
import base64
import binascii
from datetime import datetime, timedelta

from flask import current_app, jsonify, request

from app import errors
from app.storage.idempotency import IdempotencyKey, fingerprint

MAX_KEY_LENGTH = 255
STAMP = "%Y-%m-%dT%H:%M:%S.%f"
EPOCH = datetime(1970, 1, 1)
MILLISECOND = timedelta(milliseconds=1)


def idempotency_key(scope, body):
    """The request's Idempotency-Key bound to caller and body, or None if absent."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise errors.InvalidIdempotencyKey(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters")
    secret = current_app.config["SECRET_KEY"]
    return IdempotencyKey(scope, key, fingerprint(secret, request.method, request.path, body))


def count_moved(kind, cents, replayed):
    """Add a completed deposit or transfer to the money-moved metric; a replay moved nothing."""
    if not replayed:
        current_app.extensions["metrics"].moved(kind, cents)


def answered(payload, replayed, status=200):
    """The payload with ``status``, marked when it replays an earlier answer."""
    response = jsonify(payload)
    response.status_code = status
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def created(payload, replayed):
    return answered(payload, replayed, 201)


def choice(name, allowed):
    """The query parameter ``name`` if it is one of ``allowed`` (None if absent), else 400."""
    value = request.args.get(name)
    if value is not None and value not in allowed:
        raise errors.ValidationFailed(f"{name} is not valid", errors=[
            {"field": name, "message": f"must be one of {', '.join(allowed)}"}])
    return value


# Cursors of newest- or oldest-first pages: the (created_at, _id) of a page's last document,
# opaque to clients. Two spellings, each kept so that cursors already handed out stay valid.

def _encode(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor):
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()


def _invalid_cursor():
    return errors.InvalidCursor("after must be a next_cursor from an earlier page")


def stamp_cursor(doc):
    """``created_at|_id`` (the event feed, payment requests)."""
    # isoformat, not strftime(STAMP): the same text, but a year below 1000 keeps its four digits.
    return _encode(f"{doc['created_at'].isoformat(timespec='microseconds')}|{doc['_id']}")


def read_stamp_cursor(cursor, valid_id):
    """(created_at, _id) of a ``stamp_cursor`` whose id passes ``valid_id``; else 400."""
    try:
        moment, _, doc_id = _decode(cursor).partition("|")
        if not valid_id(doc_id):
            raise ValueError(doc_id)
        return datetime.strptime(moment, STAMP), doc_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid_cursor() from None


def kind_cursor(doc, kind):
    """``kind:milliseconds:_id`` (holds, withdrawals): ``kind`` keeps one listing's apart."""
    milliseconds = (doc["created_at"] - EPOCH) // MILLISECOND
    return _encode(f"{kind}:{milliseconds}:{doc['_id']}")


def read_kind_cursor(cursor, kind):
    """(created_at, _id) of a ``kind_cursor`` of this ``kind``; else 400."""
    try:
        prefix, milliseconds, doc_id = _decode(cursor).split(":")
        if prefix != kind or not (milliseconds.isascii() and milliseconds.isdigit()) or \
                len(milliseconds) > 15 or not doc_id.isascii():
            raise ValueError(cursor)
        return EPOCH + int(milliseconds) * MILLISECOND, doc_id
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise _invalid_cursor() from None


def register_blueprints(app):
    from app.routes import (audit, batches, clients, docs, events, health, holds, limits, metadata,
                            payment_requests, reports, search, system_accounts, tokens, transfers,
                            wallets, webhooks, withdrawals)
    for module in (audit, batches, clients, docs, events, health, holds, limits, metadata,
                   payment_requests, reports, search, system_accounts, tokens, transfers, wallets,
                   webhooks, withdrawals):
        app.register_blueprint(module.bp)
    app.register_blueprint(docs.swagger_ui())
