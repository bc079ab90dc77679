"""The HTTP edge: gunicorn's gevent worker, with a body deadline and problem+json refusals.

gunicorn.conf.py names ``EdgeWorker`` as the worker class (the reasons are there). This
module is loaded by gunicorn only; the app never imports it.

gunicorn answers what it refuses before the app sees a request (an overlong request line,
too many headers, broken framing) with an HTML page of its own and no hook to change it. A
worker subclass is the one place that can: ``handle_error`` is where the worker writes that
page, so here it writes the same problem+json body the app writes, and logs one line.
"""
import functools
import hashlib
import http
import json
import time

import gevent
from gevent import monkey
from gunicorn import util
from gunicorn.http import errors as parse_errors
from gunicorn.workers.ggevent import GeventWorker

PROBLEM_JSON = "application/problem+json"
DETAIL_CHARS = 200  # gunicorn's message can quote the request: keep the echo short


class BodyTimeout(BaseException):
    """The body did not arrive within the deadline. A BaseException, like gevent's Timeout,
    so the app's last-resort handler cannot turn it into a 500: it reaches the worker."""


class BadFraming(BaseException):
    """gunicorn found the body's chunked framing broken while the app read it (a 400, which
    the app's last-resort handler would have made a 500); carried past the app to the worker."""


# (exception classes, status, code); first match wins; anything else is the server's fault.
_REFUSALS = (
    ((parse_errors.InvalidResponseHeader, parse_errors.InvalidResponseHeaderName,
      parse_errors.ConfigurationProblem), 500, "internal_error"),
    ((BodyTimeout,), 408, "request_timeout"),
    ((BadFraming,), 400, "malformed_request"),
    ((parse_errors.LimitRequestLine,), 414, "uri_too_long"),
    ((parse_errors.LimitRequestHeaders,), 431, "header_fields_too_large"),
    ((parse_errors.ExpectationFailed,), 417, "expectation_failed"),
    ((parse_errors.UnsupportedTransferCoding,), 501, "transfer_coding_not_supported"),
    ((parse_errors.ForbiddenProxyRequest,), 403, "forbidden"),
    ((parse_errors.ParseException,), 400, "malformed_request"),
)


def refusal(exc):
    """(status, code) for an exception raised while gunicorn read a request."""
    for classes, status, code in _REFUSALS:
        if isinstance(exc, classes):
            return status, code
    return 500, "internal_error"


def problem_bytes(status, code, detail):
    """A whole HTTP/1.1 response carrying an RFC 9457 problem, closing the connection."""
    phrase = http.HTTPStatus(status).phrase
    body = json.dumps({"type": f"/problems/{code}", "title": phrase, "status": status,
                       "detail": detail, "code": code}).encode()
    head = (f"HTTP/1.1 {status} {phrase}\r\nConnection: close\r\nContent-Type: {PROBLEM_JSON}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class DeadlineBody:
    """A request body that must arrive whole within ``seconds`` of its head, well framed."""

    def __init__(self, body, seconds):
        self._body = body
        self._deadline = time.monotonic() + seconds

    def _within(self, read, *args):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise BodyTimeout()
        try:
            with gevent.Timeout(left, BodyTimeout):
                return read(*args)
        except parse_errors.ParseException as exc:
            raise BadFraming(str(exc)) from exc

    def read(self, size=None):
        return self._within(self._body.read, size)

    def readline(self, size=None):
        return self._within(self._body.readline, size)

    def readlines(self, size=None):
        return self._within(self._body.readlines, size)

    def __iter__(self):
        return iter(self.readline, b"")


def hash_off_the_loop():
    """Run ``hashlib.scrypt`` in gevent's pool of OS threads, not on the loop.

    A password hash holds the CPU 50-100 ms on purpose (PASSWORD_HASH_METHOD). On the loop,
    every other request would wait for each sign-up and log-in: 32 log-ins delayed /health
    by 0.5 s. OpenSSL releases the GIL while it hashes, so a real thread runs beside the loop."""
    scrypt = hashlib.scrypt
    pool = gevent.get_hub().threadpool
    hashlib.scrypt = functools.wraps(scrypt)(lambda *args, **kwargs: pool.apply(scrypt, args, kwargs))


def logging_lock_without_gevent():
    """Give logging back its own module lock, which gevent's monkey-patching replaced.

    gevent's lock asks gevent which greenlet runs. When the worker's process ends, the
    interpreter clears modules in no fixed order; a handler that outlives gevent's
    modules (Flask's ``default_handler``, a module global) is freed after them, and
    logging's weakref callback for it takes the module lock: gevent's ``get_ident`` is
    None by then, and stderr got a plain-text "Exception ignored in _removeHandlerRef"
    TypeError instead of JSON. logging's original lock is the interpreter's own (C) and
    needs nothing else. Called when the worker is done, with no other greenlet left to run."""
    import logging
    logging._lock = monkey.get_original("logging", "_lock")


class EdgeWorker(GeventWorker):
    """gunicorn's gevent worker whose own refusals are problem+json and JSON log lines."""

    def patch(self):
        super().patch()
        hash_off_the_loop()

    def init_process(self):
        # Patches, loads the app, serves until told to stop; whatever way it ends (a stop, a
        # failed boot), the interpreter then tears down, and logging must outlive gevent.
        try:
            super().init_process()
        finally:
            logging_lock_without_gevent()

    def handle_error(self, req, client, addr, exc):
        status, code = refusal(exc)
        if status == 500:
            self.log.exception("error handling a request", extra={"status": 500, "code": code})
            detail = "Internal server error"
        else:
            detail = str(exc)[:DETAIL_CHARS] or http.HTTPStatus(status).phrase
            self.log.warning("refused at the edge", extra={"status": status, "code": code,
                                                           "detail": detail})
        try:
            util.write_nonblock(client, problem_bytes(status, code, detail))
        except OSError:
            self.log.debug("could not send the refusal: the client is gone")


def limit_body(worker, req, seconds):
    """gunicorn's pre_request hook: bound the time the app may wait for this request's body."""
    req.body = DeadlineBody(req.body, seconds)
