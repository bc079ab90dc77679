"""Background work: each step writes down what time alone has changed (no Flask here).

On the embedded engine the data lives in the server process, so the sweeper is a thread
of it (``start_thread``); on MongoDB it is its own process, ``flask --app app ledger sweep
--every 60``. Each step is safe to run anywhere at any time: its writes are conditional.
"""
import logging
import threading

from app.ledger import units
from app.ledger.payment_requests import sweep_expired_requests

STEPS = (("expired_requests", sweep_expired_requests),)
log = logging.getLogger(__name__)


def sweep(store, now=None):
    """Run every step once; return {step name: how many documents it changed}."""
    moment = now or units.now()
    return {name: step(store, moment) for name, step in STEPS}


def start_thread(store, interval_s):
    """A daemon thread that sweeps every ``interval_s`` seconds for the life of the process."""
    def loop():
        while not stopped.wait(interval_s):
            try:
                sweep(store)
            except Exception:  # a failed round must not end the thread; the next one retries
                log.exception("sweep failed")

    stopped = threading.Event()
    threading.Thread(target=loop, name="sweeper", daemon=True).start()
    return stopped
