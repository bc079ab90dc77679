"""The Flask side of errors: every failure becomes application/problem+json (RFC 9457)."""
import logging

from flask import g
from pymongo.errors import ConnectionFailure
from werkzeug.exceptions import HTTPException

from app.errors import (PROBLEM_JSON, ApiError, DatabaseUnavailable, InternalError,
                        MethodNotAllowed, NotFound, PayloadTooLarge, UnsupportedMediaType)

log = logging.getLogger(__name__)

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
        headers.update(getattr(error, "headers", None) or {})  # Retry-After on wallet_busy
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
        # The trace goes to the log only; app.web.observability stamps it with the request id.
        log.exception("unhandled error")
        return problem_response(app, InternalError())
