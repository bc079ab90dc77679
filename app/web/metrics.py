"""Prometheus metrics of one app, in a registry of its own (no Flask).

A registry per app, not prometheus_client's global one, so that every app a test
builds starts from zero and none collides with another's metric names. The
store's retry counters are read at scrape time, so they cost requests nothing.
"""
from prometheus_client import (CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, Counter, Histogram,
                               PlatformCollector, ProcessCollector, disable_created_metrics,
                               generate_latest)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

# Most requests take about a millisecond; the default buckets start at 5 ms.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# The text format every Prometheus version parses; our names need none of 1.0.0's escaping.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class _StoreCollector(Collector):
    """The unit of work's own counters, read when Prometheus scrapes."""

    def __init__(self, store):
        self._store = store

    def collect(self):
        yield CounterMetricFamily(
            "wallet_transaction_retries", "Units of work re-run by the driver after a transient "
            "error (MongoDB; the embedded engine serialises and never retries)",
            value=self._store.transaction_retries)
        conflicts = CounterMetricFamily(
            "wallet_write_conflicts", "MongoDB WriteConflict errors inside a unit of work, by the "
            "class of the document written (wallet, system shard, other); each one is retried",
            labels=("account_class",))
        for account_class, count in self._store.write_conflicts.items():
            conflicts.add_metric((account_class,), count)
        yield conflicts


class Metrics:
    """Every metric the service exports, and one method per thing it counts."""

    def __init__(self, store):
        # A *_created series per labelled counter doubles the output and nobody graphs it.
        disable_created_metrics()  # process-wide, and idempotent
        self.registry = registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self._requests = Counter("wallet_http_requests", "HTTP requests answered", labels,
                                 registry=registry)
        self._latency = Histogram("wallet_http_request_duration_seconds",
                                  "Time from the request's arrival to its response", labels,
                                  buckets=LATENCY_BUCKETS_S, registry=registry)
        self._transfers = Counter("wallet_transfers", "POST /transfers answers that were not "
                                  "replays, by outcome (completed or the problem code)",
                                  ("outcome",), registry=registry)
        self._moved = Counter("wallet_moved_cents", "Cents moved by completed deposits and "
                              "transfers (replays excluded)", ("kind",), registry=registry)
        self._replays = Counter("wallet_idempotent_replays", "Responses replayed for a repeated "
                                "Idempotency-Key", ("route",), registry=registry)
        registry.register(_StoreCollector(store))
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self._children = {}

    def request(self, method, route, status, seconds):
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # once per (method, route, status): labels() takes a lock
            label_values = (method, route, str(status))
            children = self._children.setdefault(key, (
                self._requests.labels(*label_values), self._latency.labels(*label_values)))
        children[0].inc()
        children[1].observe(seconds)

    def transfer(self, outcome):
        self._transfers.labels(outcome).inc()

    def moved(self, kind, cents):
        self._moved.labels(kind).inc(cents)

    def replayed(self, route):
        self._replays.labels(route).inc()

    def exposition(self):
        """The text Prometheus scrapes."""
        return generate_latest(self.registry)
