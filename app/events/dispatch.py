"""The dispatcher: fans events out into deliveries (``fanout.py``) and sends them, at least once.

No Flask here. One delivery document per event and target (a webhook endpoint or
a client's e-mail), unique on both, so two dispatchers fanning out one event make
one. A dispatcher claims a due delivery with a lease (one conditional update on
status and lease_until), sends it outside any transaction, and records the
attempt only while it still holds the lease: a dispatcher that died mid-send
loses nothing (the lease lapses and another takes the delivery over), and two
never hold one delivery at once.

Nothing waits behind a slow receiver. The steps (fan-out, then any a feature
registers, such as the withdrawals' payout steps, by appending ``step(dispatcher,
moment) -> work done`` to ``app.extensions["dispatch_steps"]``) run in a loop of
their own; webhooks and e-mail each run in a lane (``lanes.py``): a bounded pool of
attempts shared fairly between owners, each attempt ending by its deadline
(``deadline.py``). ``tick()`` does one round of all of it, in this thread.
"""
import logging
import random
import socket
import threading
import time
from datetime import timedelta
from functools import partial

from pymongo import ASCENDING, ReturnDocument

from app import render
from app.events import lanes, outbound
from app.events.fanout import fan_out
from app.ledger.units import new_id, now
from app.ledger.webhooks import DELIVERED, DELIVERING, ENABLED, FAILED, PENDING

log = logging.getLogger("app.events")
BATCH = 100  # attempts one tick makes per lane
# Notices go to one SMTP server, ours: two connections keep up, and no owner can slow it.
EMAIL_WORKERS = 2


class Dispatcher:
    """One dispatcher: ``tick()`` once, or ``start()`` its loops as threads until ``stop()``."""

    def __init__(self, store, config, steps=None):
        self.store = store
        self.config = config
        self.name = f"{socket.gethostname()}:{new_id('dsp')}"
        self.extra_steps = steps if steps is not None else []
        self.http = outbound.http_client(config["WEBHOOK_TIMEOUT_S"])
        self.clock = now  # tests move it forward days at a time
        self.lanes = [
            lanes.Lane("webhooks", partial(_claim_for_lane, self, "webhook"), partial(attempt, self),
                       config["DELIVERY_WORKERS"], config["DELIVERY_WORKERS_PER_OWNER"]),
            lanes.Lane("email", partial(_claim_for_lane, self, "email"), partial(attempt, self),
                       EMAIL_WORKERS, EMAIL_WORKERS)]
        self._stop = threading.Event()
        self._threads = []

    def tick(self):
        """Run every step once, then attempt what is due; return how much work was done (0: none was due)."""
        done = self.run_steps()
        return done + sum(lane.drain(BATCH) for lane in self.lanes)

    def run_steps(self):
        """Fan out, then every registered step, once; wake the lanes if there was work."""
        moment = self.clock()
        done = sum(step(self, moment) for step in [fan_out] + list(self.extra_steps))
        if done:
            for lane in self.lanes:
                lane.wake()
        return done

    def _steps_loop(self):
        while not self._stop.is_set():
            try:
                busy = self.run_steps()
            except Exception:  # a bad round must not end the loop: log it, wait, go on
                log.exception("dispatcher steps failed")
                busy = 0
            if not busy:
                self._stop.wait(self.config["DISPATCH_INTERVAL_S"])

    def start(self):
        """The steps' loop and each lane's, as daemon threads; returns the dispatcher."""
        if not self.config["SMTP_URL"]:
            log.warning("SMTP_URL is unset: no e-mail notices will be sent")
        loops = [("events-steps", self._steps_loop)] + [
            (f"events-{lane.name}", partial(lane.run, self._stop, self.config["DISPATCH_INTERVAL_S"]))
            for lane in self.lanes]
        self._threads = [threading.Thread(target=loop, name=name, daemon=True) for name, loop in loops]
        for thread in self._threads:
            thread.start()
        return self

    def running(self):
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    def run(self):
        """The loops until ``stop()`` (the console command); then the attempts in flight end, recorded."""
        self.start()
        try:
            self._stop.wait()
        finally:
            self.stop()

    def stop(self, timeout_s=None):
        """Claim nothing more; wait for the loops and, each within its deadline, the attempts in flight."""
        self._stop.set()
        for lane in self.lanes:
            lane.wake()
        for thread in self._threads:
            thread.join(timeout_s)
        for lane in self.lanes:
            lane.idle(timeout_s)


def claim(dispatcher, moment, kind="webhook", skipped_owners=(), busy_endpoints=()):
    """Take one due delivery of ``kind`` (or one whose holder's lease lapsed) under a new lease,
    passing over the owners and endpoints a lane names (see lanes.py)."""
    lease = moment + timedelta(seconds=dispatcher.config["DELIVERY_LEASE_S"])
    wanted = {"kind": kind, "$or": [{"status": PENDING, "next_attempt_at": {"$lte": moment}},
                                    {"status": DELIVERING, "lease_until": {"$lt": moment}}]}
    if skipped_owners:
        wanted["owner"] = {"$nin": list(skipped_owners)}
    if busy_endpoints:
        wanted["endpoint_id"] = {"$nin": list(busy_endpoints)}
    return dispatcher.store.atomic(lambda db: db.deliveries.find_one_and_update(
        wanted, {"$set": {"status": DELIVERING, "lease_until": lease, "lease_owner": dispatcher.name}},
        sort=[("next_attempt_at", ASCENDING)], return_document=ReturnDocument.AFTER))


def _claim_for_lane(dispatcher, kind, skipped_owners, busy_endpoints):
    return claim(dispatcher, dispatcher.clock(), kind, skipped_owners, busy_endpoints)


def attempt(dispatcher, delivery):
    """Send one claimed delivery and record how it went (only while the lease holds)."""
    started = time.monotonic()
    status_code, error, final = send(dispatcher, delivery)
    duration_ms = int((time.monotonic() - started) * 1000)
    record(dispatcher, delivery, dispatcher.clock(), status_code, error, duration_ms, final)


def send(dispatcher, delivery):
    """(status code, error, final): final when no retry can help (the endpoint or event is gone)."""
    store, config = dispatcher.store, dispatcher.config
    if delivery["kind"] == "email":
        return None, outbound.send_mail(config["SMTP_URL"], config["SMTP_FROM"], delivery["message"],
                                        config["WEBHOOK_TIMEOUT_S"]), False
    endpoint = store.read(lambda db: db.webhook_endpoints.find_one({"_id": delivery["endpoint_id"]}))
    event = store.read(lambda db: db.events.find_one({"_id": delivery["event_id"]}))
    if endpoint is None or endpoint["status"] != ENABLED:
        return None, f"endpoint {endpoint['status'] if endpoint else 'gone'}", True
    if event is None:
        return None, "event expired", True
    body = outbound.body_of(render.event(event))
    status_code, error = outbound.post_webhook(dispatcher.http, endpoint["url"], endpoint["secret"],
                                               event["_id"], body, config["WEBHOOK_ALLOW_PRIVATE"])
    return status_code, error, False


def backoff_s(config, attempt_count):
    """Exponential from RETRY_BASE_S, capped at RETRY_MAX_S, with jitter (half to all of it)."""
    delay = min(config["RETRY_BASE_S"] * 2 ** (attempt_count - 1), config["RETRY_MAX_S"])
    return delay * (0.5 + random.random() / 2)


def record(dispatcher, delivery, moment, status_code, error, duration_ms, final=False):
    """Write the attempt's outcome, only while this dispatcher still holds the lease."""
    config, store = dispatcher.config, dispatcher.store
    ok = status_code is not None and 200 <= status_code < 300
    attempt = {"at": moment, "status_code": status_code, "error": None if ok else (
        error or f"HTTP {status_code}"), "duration_ms": duration_ms}
    count = delivery["attempt_count"] + 1
    gave_up = final or moment - delivery["created_at"] >= timedelta(seconds=config["RETRY_FOR_S"])
    status = DELIVERED if ok else (FAILED if gave_up else PENDING)
    changes = {"status": status, "lease_until": None, "lease_owner": None, "last_status_code": status_code,
               "next_attempt_at": moment + timedelta(seconds=backoff_s(config, count))
               if status == PENDING else None, "delivered_at": moment if ok else None}
    written = store.atomic(lambda db: db.deliveries.find_one_and_update(
        {"_id": delivery["_id"], "status": DELIVERING, "lease_owner": dispatcher.name},
        {"$set": changes, "$push": {"attempts": attempt}, "$inc": {"attempt_count": 1}}))
    if written is None:
        log.warning("delivery %s: lease lost, another dispatcher took it over", delivery["_id"])
        return False
    log.info("delivery %s %s: %s", delivery["_id"], status, attempt["error"] or status_code)
    if delivery["kind"] == "webhook" and not final:
        _endpoint_health(store, delivery["endpoint_id"], ok, moment, config["DISABLE_AFTER_S"])
    return True


def _endpoint_health(store, endpoint_id, ok, moment, disable_after_s):
    """A success clears failing_since; failing DISABLE_AFTER_S straight disables the endpoint."""
    if ok:
        store.atomic(lambda db: db.webhook_endpoints.find_one_and_update(
            {"_id": endpoint_id, "failing_since": {"$ne": None}}, {"$set": {"failing_since": None}}))
        return
    store.atomic(lambda db: db.webhook_endpoints.find_one_and_update(
        {"_id": endpoint_id, "failing_since": None}, {"$set": {"failing_since": moment}}))
    disabled = store.atomic(lambda db: db.webhook_endpoints.find_one_and_update(
        {"_id": endpoint_id, "status": ENABLED,
         "failing_since": {"$lte": moment - timedelta(seconds=disable_after_s)}},
        {"$set": {"status": "disabled", "disabled_at": moment}}))
    if disabled is not None:
        log.warning("webhook endpoint %s disabled: failing for %s s", endpoint_id, disable_after_s)


def init_app(app):
    """The steps list other features extend; on the embedded engine, the dispatcher thread."""
    for name in ("DELIVERY_WORKERS", "DELIVERY_WORKERS_PER_OWNER"):
        if app.config[name] < 1:  # no slot would ever free: nothing would be delivered
            raise RuntimeError(f"{name} is {app.config[name]}; it must be at least 1")
    app.extensions["dispatch_steps"] = []
    if app.config["EVENTS_DISPATCHER_THREAD"]:
        app.extensions["dispatcher"] = Dispatcher(
            app.extensions["store"], app.config, app.extensions["dispatch_steps"]).start()
