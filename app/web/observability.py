"""One JSON log line per request, the X-Request-ID header, and the request metrics.

Lines carry only fields chosen here (never headers or bodies), so no password or
token reaches them. The formatter still masks the process's own secrets and any
"Bearer ..." in free text (messages, tracebacks), which this module does not write.
"""
import json
import logging
import os
import re
import sys
import time
from urllib.parse import urlsplit

from flask import g, has_request_context, request

from app.web.metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# An incoming id is echoed into headers and logs, so only a short, plain one is kept.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
BEARER = re.compile(r"(?i)bearer\s+[^\s\"',]+")
REDACTED = "[redacted]"
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
log = logging.getLogger("app.requests")


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON: time, level, logger, message and its ``extra`` fields."""

    def __init__(self, secrets=()):
        super().__init__()
        self._secrets = [secret for secret in secrets if secret]

    def format(self, record):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = {"time": f"{stamp}.{int(record.msecs):03d}Z",
                "level": record.levelname.lower(), "logger": record.name,
                "message": self._scrub(record.getMessage())}
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS:
                line[name] = value
        if record.exc_info:
            line["exception"] = self._scrub(self.formatException(record.exc_info))
        return json.dumps(line, default=str)

    def _scrub(self, text):
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return BEARER.sub("Bearer " + REDACTED, text)


class RequestIdFilter(logging.Filter):
    """Stamp every record logged while serving a request with that request's id."""

    def filter(self, record):
        if not hasattr(record, "request_id") and has_request_context():
            record.request_id = g.get("request_id")
        return True


def _secrets(config):
    """The values no log line may show: the keys, and the MongoDB password if the URI has one."""
    secrets = [config.get("SECRET_KEY"), config.get("OPERATOR_TOKEN")]
    if config.get("MONGO_URI"):
        secrets.append(urlsplit(config["MONGO_URI"]).password)
    return secrets


def configure_logging(config, stream=None):
    """Send the app's loggers to ``stream`` (stderr) as JSON lines; replace earlier handlers."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(_secrets(config)))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("app")  # also Flask's app.logger, which then adds no handler
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(config.get("LOG_LEVEL", "INFO"))
    logger.propagate = False
    return handler


def _start_request():
    g.request_started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER)
    g.request_id = incoming if incoming and VALID_REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()


def _count(metrics, route, status, replayed):
    if replayed:
        metrics.replayed(route)
    elif request.endpoint == "transfers.create_transfer":
        metrics.transfer("completed" if status == 201 else g.get("problem_code", "error"))


def _finish_request(metrics, response):
    started = g.get("request_started")
    duration_s = time.perf_counter() - started if started is not None else 0.0
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    status = response.status_code
    # Any token of 3-20 capitals is a method to gunicorn: unknown ones share one label.
    method = request.method if request.method in KNOWN_METHODS else "other"
    metrics.request(method, route, status, duration_s)
    _count(metrics, route, status, response.headers.get("Idempotent-Replayed") == "true")
    level = logging.ERROR if status >= 500 else logging.INFO
    if log.isEnabledFor(level):
        caller = g.get("caller")
        # makeRecord + handle skips Logger._log's walk up the stack for the caller's file and
        # line, which a request line never shows: about a third of the cost of logging.
        log.handle(log.makeRecord(log.name, level, "", 0, "request", None, None, extra={
            "method": request.method, "route": route, "status": status,
            "duration_ms": round(duration_s * 1000, 3),
            "caller": None if caller is None else (
                caller.client_id or caller.key_id or ("operator" if caller.is_platform else None)),
            "code": g.get("problem_code")}))
    return response


def init_app(app):
    configure_logging(app.config)
    metrics = app.extensions["metrics"] = Metrics(app.extensions["storage"])
    app.before_request(_start_request)
    app.after_request(lambda response: _finish_request(metrics, response))
