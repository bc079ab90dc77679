"""Blueprints, one per resource, and the helpers their views share."""
from flask import current_app, jsonify, request

from app import errors
from app.storage.idempotency import IdempotencyKey, fingerprint

MAX_KEY_LENGTH = 255


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


def choice(name, allowed, args=None):
    """The query parameter ``name`` (of ``args``, else the request's) if it is one of ``allowed``
    (None if absent), else 400."""
    value = (request.args if args is None else args).get(name)
    if value is not None and value not in allowed:
        raise errors.ValidationFailed(f"{name} is not valid", errors=[
            {"field": name, "message": f"must be one of {', '.join(allowed)}"}])
    return value


def register_blueprints(app):
    from app.routes import (admin_log, api_keys, audit, batches, clients, docs, events, health, holds,
                            limits, metadata, monitors, payment_requests, reports, search, system_accounts,
                            tenants, tokens, transfers, wallets, webhooks, withdrawals)
    for module in (admin_log, api_keys, audit, batches, clients, docs, events, health, holds, limits,
                   metadata, monitors, payment_requests, reports, search, system_accounts, tenants, tokens,
                   transfers, wallets,
                   webhooks, withdrawals):
        app.register_blueprint(module.bp)
    app.register_blueprint(docs.swagger_ui())
