"""gunicorn settings, read by `make run` and the image's CMD (both pass --config gunicorn.conf.py).

Why the gevent worker: with gthread, a thread reads a request from its first byte to its
last, so 8 clients that each send half a request (one per thread) froze the server, and
stayed for minutes. With gevent each connection is a greenlet costing a few KB, so slow
clients wait beside the others instead of in front of them, and two deadlines end them:

* the head (request line and headers) must arrive within HEADER_TIMEOUT_S of the previous
  response or of the connection (gunicorn's gevent worker bounds that read by ``keepalive``;
  past it the connection is closed without a response, as nginx does);
* the body within BODY_TIMEOUT_S of the head (app/web/edge.py), else 408 request_timeout.

The app's own code is synchronous; gevent patches sockets, locks and threads so that a wait
on the network (a slow client, MongoDB) yields. CPU work does not yield: no request should
hold the CPU for long (a page of /operations is one index range read on both engines).
Anything beyond this (rate limits, a cap on connections per address, TLS) belongs to a proxy
in front: see docs/security.md.
"""
import os
import secrets
import sys

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8080')}"
# The embedded engine keeps its data inside one process: one worker. MongoDB: WORKERS.
workers = int(os.environ.get("WORKERS", "2")) if os.environ.get("MONGO_URI") else 1
worker_class = "app.web.edge.EdgeWorker"
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))
keepalive = int(os.environ.get("HEADER_TIMEOUT_S", "5"))
BODY_TIMEOUT_S = float(os.environ.get("BODY_TIMEOUT_S", "10"))
control_socket_disable = True  # no gunicornc here; and two servers on one host would share its path
timeout = 30  # a worker that stops answering the arbiter this long is restarted
graceful_timeout = 20
# gunicorn's defaults, written out: past them 414 uri_too_long / 431 header_fields_too_large.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# No access log: the app writes one JSON line per request (app/web/observability.py); gunicorn's
# own lines (start-up, edge refusals, worker restarts) are JSON lines too.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.web.observability.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
                "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False}},
}


# The worker's garbage collector. Everything loaded at start (Flask, the schemas, mongomock) is
# frozen out of every later collection, and gen 0 is collected every 10,000 allocations net
# instead of 700: full collections over a growing embedded heap paused a batch of 100 for up to
# 110 ms (p95 65 ms; 37 ms with this, +9% batches/s; docs/benchmarks.md, "Latest numbers").
GC_THRESHOLDS = (10000, 10, 10)


def post_worker_init(worker):
    import gc
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def pre_request(worker, req):
    from app.web.edge import limit_body
    limit_body(worker, req, BODY_TIMEOUT_S)


# The embedded engine generates a missing operator token; show it to whoever starts the
# server, here in the master, which is the only place that knows it is starting one. The
# workers inherit it through the environment. (create_app itself never prints it: it also
# runs for console commands and scripts.) With MONGO_URI the app refuses to start without one.
# A JSON line like every other on stderr, with the token in a field of its own.
if not os.environ.get("MONGO_URI") and not os.environ.get("OPERATOR_TOKEN"):
    import logging
    from app.web.observability import JsonFormatter
    os.environ["OPERATOR_TOKEN"] = secrets.token_urlsafe(32)
    print(JsonFormatter().format(logging.makeLogRecord({
        "name": "gunicorn.conf", "levelname": "WARNING", "operator_token": os.environ["OPERATOR_TOKEN"],
        "msg": "OPERATOR_TOKEN was unset; generated one for this server"})), file=sys.stderr)
