"""A lane: a bounded pool of delivery attempts of one kind, shared fairly between owners.

No Flask here. A slot is a thread (a greenlet in the gevent server), one per attempt
in flight, at most ``workers``. Fairness is in which delivery a free slot claims:

* one attempt at a time per endpoint, so a slow endpoint holds one slot, not many;
* at most ``per_owner`` slots per owner (a client, or the operator): one owner's
  endpoints, however slow and however many, leave the other slots to the others;
* the least busy owner first: a claim first skips every owner with an attempt in
  flight, then only those with two, and so on up to the cap. An owner with nothing
  in flight waits for no one but a free slot, and every attempt ends by its
  deadline (WEBHOOK_TIMEOUT_S), so a slot frees within that even when all are busy.

These counts are per dispatcher: several dispatchers each keep their own.
"""
import collections
import logging
import threading

log = logging.getLogger("app.events")


class Lane:
    """Claims deliveries of one kind into free slots and runs ``attempt(delivery)`` in each."""

    def __init__(self, name, claim, attempt, workers, per_owner):
        self.name, self.workers, self.per_owner = name, workers, per_owner
        self._claim, self._attempt = claim, attempt
        self._changed = threading.Condition()
        self._owners, self._endpoints = collections.Counter(), collections.Counter()
        self._running = 0
        self._generation = 0  # moves on whenever a slot frees or ``wake`` says work arrived

    def fill(self, limit=None):
        """Claim into free slots until none is free, nothing is due, or ``limit``; return how many."""
        started = 0
        while limit is None or started < limit:
            with self._changed:
                delivery = self._claim_fairly() if self._running < self.workers else None
                if delivery is None:
                    return started
                self._count(delivery, +1)
            threading.Thread(target=self._run, args=(delivery,), name=f"{self.name}-attempt",
                             daemon=True).start()
            started += 1
        return started

    def _claim_fairly(self):
        """The due delivery of the least busy owner that may have one more, or None."""
        counts = set(self._owners.values())
        for level in sorted({1} | {count + 1 for count in counts if count < self.per_owner}):
            skipped = [owner for owner, count in self._owners.items() if count >= level]
            delivery = self._claim(skipped, list(self._endpoints))
            if delivery is not None:
                return delivery
        return None

    def _count(self, delivery, change):
        self._running += change
        _add(self._owners, delivery.get("owner"), change)
        if delivery.get("endpoint_id") is not None:
            _add(self._endpoints, delivery["endpoint_id"], change)

    def _run(self, delivery):
        try:
            self._attempt(delivery)
        except Exception:  # the slot must come back; the lease lapses and the delivery is retried
            log.exception("delivery %s: attempt failed", delivery["_id"])
        finally:
            with self._changed:
                self._count(delivery, -1)
                self._generation += 1
                self._changed.notify_all()

    def wake(self):
        """New work may be due: a waiting ``run`` or ``drain`` looks again now."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _now(self):
        with self._changed:
            return self._generation

    def in_flight(self):
        with self._changed:
            return self._running

    def _wait_past(self, generation, timeout_s):
        with self._changed:
            self._changed.wait_for(lambda: self._generation != generation, timeout_s)

    def idle(self, timeout_s):
        """Wait until no attempt is in flight (or ``timeout_s``); True if none is."""
        with self._changed:
            return self._changed.wait_for(lambda: self._running == 0, timeout_s)

    def drain(self, limit):
        """Attempt what is due, up to ``limit``, and return once none is in flight: one tick's work."""
        attempted = 0
        while attempted < limit:
            generation = self._now()
            started = self.fill(limit - attempted)
            attempted += started
            if not started:
                if not self.in_flight():
                    break
                self._wait_past(generation, None)  # a slot frees: claim again
        self.idle(None)
        return attempted

    def run(self, stop, interval_s):
        """Keep the slots filled until ``stop``; look again when a slot frees, or every ``interval_s``."""
        while not stop.is_set():
            generation = self._now()
            try:
                started = self.fill()
            except Exception:  # a failed claim (the database away) must not end the loop
                log.exception("%s lane: claiming failed", self.name)
                started = 0
            if not started:
                self._wait_past(generation, interval_s)


def _add(counter, key, change):
    counter[key] += change
    if not counter[key]:
        del counter[key]  # only the busy are listed: they are what a claim skips
