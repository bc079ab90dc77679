"""A token bucket per key, in this process: how often one address may try a secret.

Per process, like every limit kept in memory here: with WORKERS gunicorn processes an
address gets up to WORKERS times the rate. The table is bounded (the least recently
refilled keys go first), so a flood of addresses cannot grow it without end.
"""
import threading
import time
from collections import OrderedDict


class RateLimiter:
    """``allow(key)``: (True, 0) and one token taken, or (False, seconds until the next token)."""

    def __init__(self, per_minute, burst, max_keys=10_000, clock=time.monotonic):
        if per_minute <= 0 or burst < 1:
            raise ValueError("a rate limit needs per_minute > 0 and burst >= 1")
        self.rate_per_s, self.burst = per_minute / 60.0, burst
        self._max_keys, self._clock = max_keys, clock
        self._buckets = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def allow(self, key):
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return (True, 0) if allowed else (False, max(1, int((1.0 - tokens) / self.rate_per_s + 0.999)))
