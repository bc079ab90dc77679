"""Form fields -> the API's request documents, checked by the API's own JSON Schemas and parsed by
its own money rules (app/money.py, app/ledger/limits.py): one set of rules for both doors."""
import re
import secrets

from flask import current_app, request

from app import errors
from app.ledger import limits
from app.storage.idempotency import IdempotencyKey, fingerprint
from app.web.validation import validate

# What new_key() makes: a form's own key, never one a caller typed.
KEY_TEXT = re.compile(r"[A-Za-z0-9_-]{16,64}")
KEY_PREFIX = "console:"


def new_key():
    """An idempotency key for one rendering of a form: a double submit sends it twice."""
    return secrets.token_urlsafe(18)


def field(name):
    """The form field without the spaces a paste brings at either end ("" when absent)."""
    return request.form.get(name, "").strip()


def idempotency_key(scope, body):
    """The form's key, bound to the caller's scope, this path and the body (as the API binds it)."""
    key = request.form.get("idempotency_key", "")
    if not KEY_TEXT.fullmatch(key):
        raise errors.InvalidIdempotencyKey("the form carries no valid idempotency key; reload the page")
    return IdempotencyKey(scope, KEY_PREFIX + key, fingerprint(
        current_app.config["SECRET_KEY"], "POST", request.path, body))


def _optional(body, **fields):
    body.update({name: value for name, value in fields.items() if value})
    return body


def deposit_body():
    """{amount, details?} as POST /wallets/{id}/deposits takes it."""
    return validate("deposit_create", _optional({"amount": field("amount")}, details=field("details")))


def settle_body():
    """{outcome, provider_reference?, failure_reason?} as POST /withdrawals/{id}/settle takes it."""
    return validate("withdrawal_settle", _optional(
        {"outcome": field("outcome")}, provider_reference=field("provider_reference"),
        failure_reason=field("failure_reason")))


def state_change_body():
    """{reason} as POST /wallets/{id}/freeze and /close take it."""
    return validate("wallet_state_change", {"reason": field("reason")})


def limits_changes():
    """The stored limit changes of the limits form: every limit is on it, and an empty one is none."""
    document = {}
    for name in limits.NAMES:
        value = field(name)
        if value == "":
            value = None
        elif name in limits.COUNT_LIMITS and value.isascii() and value.isdigit():
            value = int(value)
        document[name] = value
    return limits.parse(validate("limits_update", document))
