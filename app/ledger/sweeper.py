"""The sweeper: background steps that write down what time has already decided.

Nothing waits for it (expiry never blocks money, see ``expiry``); it keeps the
stored books close to how they read. Each step is ``step(store, moment, limit)
-> count`` and does its work in units of its own; another feature adds its step
to STEPS (payment requests have).
"""
import logging
import threading

from app.ledger import expiry, units
from app.ledger.payment_requests import sweep_expired_requests

log = logging.getLogger("app.sweeper")
STEPS = {"holds_expired": expiry.sweep_holds, "payment_requests_expired": sweep_expired_requests}
BATCH = 500


def sweep(store, moment=None, limit=BATCH):
    """Run every step once; return {step name: how many it wrote down}."""
    moment = moment or units.now()
    return {name: step(store, moment, limit) for name, step in STEPS.items()}


def run(store, interval_s, stop):
    """Sweep every ``interval_s`` until ``stop`` (a threading.Event) is set."""
    while not stop.is_set():
        try:
            done = sweep(store)
        except Exception:  # a failed sweep is retried next time; never kill the loop
            log.exception("sweep failed")
        else:
            if any(done.values()):
                log.info("swept", extra={"swept": done})
        stop.wait(interval_s)


def start_thread(store, interval_s):
    """The sweeper as a daemon thread of this process (the embedded engine's data lives here)."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(store, interval_s, stop), name="sweeper", daemon=True)
    thread.start()
    return thread, stop
