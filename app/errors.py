"""One error hierarchy, rendered as application/problem+json (RFC 9457)."""
import logging

from flask import g
from pymongo.errors import ConnectionFailure
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class ApiError(Exception):
    """A refusal with an HTTP status and a stable snake_case code."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail=None, errors=None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors

    def to_problem(self):
        body = {"type": f"/problems/{self.code}", "title": self.title, "status": self.status,
                "detail": self.detail, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def _error(name, status, code, title):
    return type(name, (ApiError,), {"status": status, "code": code, "title": title})


ValidationFailed = _error("ValidationFailed", 400, "validation_failed", "The request is not valid")
MalformedJson = _error("MalformedJson", 400, "malformed_json", "The body is not valid JSON")
InvalidCursor = _error("InvalidCursor", 400, "invalid_cursor", "The pagination cursor is not valid")
InvalidIdempotencyKey = _error("InvalidIdempotencyKey", 400, "invalid_idempotency_key",
                               "The Idempotency-Key header is not valid")
Unauthenticated = _error("Unauthenticated", 401, "unauthenticated", "Authentication required")
InvalidCredentials = _error("InvalidCredentials", 401, "invalid_credentials",
                            "Email or password is wrong")
Forbidden = _error("Forbidden", 403, "forbidden", "Not allowed for this caller")
NotFound = _error("NotFound", 404, "not_found", "Not found")
WalletNotFound = _error("WalletNotFound", 404, "wallet_not_found", "Wallet not found")
TransferNotFound = _error("TransferNotFound", 404, "transfer_not_found", "Transfer not found")
MethodNotAllowed = _error("MethodNotAllowed", 405, "method_not_allowed", "Method not allowed")
NotAcceptable = _error("NotAcceptable", 406, "not_acceptable",
                       "None of the media types in Accept can be produced")
EmailTaken = _error("EmailTaken", 409, "email_taken", "Email already registered")
PayloadTooLarge = _error("PayloadTooLarge", 413, "payload_too_large", "The body is too large")
UnsupportedMediaType = _error("UnsupportedMediaType", 415, "unsupported_media_type",
                              "The body must be application/json")
AccountsMustBeDifferent = _error("AccountsMustBeDifferent", 422, "accounts_must_be_different",
                                 "A transfer needs two different wallets")
ReceiverNotFound = _error("ReceiverNotFound", 422, "wallet_not_found",
                          "The receiving wallet does not exist")
InsufficientFunds = _error("InsufficientFunds", 422, "insufficient_funds",
                           "The wallet balance is lower than the amount")
IdempotencyKeyReused = _error("IdempotencyKeyReused", 422, "idempotency_key_reused",
                              "This Idempotency-Key was used with a different request")
DatabaseUnavailable = _error("DatabaseUnavailable", 503, "database_unavailable",
                             "The database cannot be reached; retry later")
InternalError = _error("InternalError", 500, "internal_error", "Internal server error")
NotReady = _error("NotReady", 503, "not_ready", "The database does not answer")

# Refusals that depend on stored state: recorded with an Idempotency-Key and replayed.
REPLAYED_REFUSALS = {cls.code: cls for cls in (ReceiverNotFound, InsufficientFunds)}

_HTTP_ERRORS = {404: NotFound, 405: MethodNotAllowed, 413: PayloadTooLarge, 415: UnsupportedMediaType}


def problem_response(app, error, headers=None):
    g.problem_code = error.code  # for the request's log line and the transfer outcome metric
    response = app.json.response(error.to_problem())
    response.status_code = error.status
    response.mimetype = PROBLEM_JSON
    response.headers.extend(headers or {})
    return response


def init_app(app):
    @app.errorhandler(ApiError)
    def handle_api_error(error):
        headers = {}
        if getattr(error, "replayed", False):
            headers["Idempotent-Replayed"] = "true"
        if error.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return problem_response(app, error, headers)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error):
        if error.code is None or error.code < 400:
            return error  # a routing redirect, not a failure
        cls = _HTTP_ERRORS.get(error.code)
        api_error = cls() if cls else ApiError(error.description)
        if cls is None:
            api_error.status, api_error.code, api_error.title = error.code, "http_error", error.name
        allow = getattr(error, "valid_methods", None)
        return problem_response(app, api_error, {"Allow": ", ".join(allow)} if allow else None)

    @app.errorhandler(ConnectionFailure)
    def handle_database_unreachable(error):
        # No primary within SERVER_SELECTION_TIMEOUT_MS (a long failover, a network cut). A unit
        # of work is all or nothing, so its effect is whole or absent; a retry with the same
        # Idempotency-Key gets the right answer either way.
        log.warning("database unreachable: %s", type(error).__name__)
        return problem_response(app, DatabaseUnavailable(
            "the database did not answer in time; retry later, with the same Idempotency-Key"))

    @app.errorhandler(Exception)
    def handle_unexpected(error):
        # The trace goes to the log only; app.observability stamps it with the request id.
        log.exception("unhandled error")
        return problem_response(app, InternalError())
