"""What every money rule shares: ids, the clock, and the idempotent unit of work."""
import secrets
from datetime import datetime, timezone

from pymongo.errors import DuplicateKeyError

from app import errors
from app.storage import idempotency

# Refusals that depend on stored state: recorded under an Idempotency-Key and replayed.
REPLAYED = errors.REPLAYED_REFUSALS
# A unit that lost a race to insert a unique document runs again, at most this often in all.
UNIT_ATTEMPTS = 8


def new_id(prefix):
    """96 random bits: an id cannot be guessed from another (an ObjectId's counter can)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def now():
    """UTC now at millisecond precision, naive, as both engines store it."""
    moment = datetime.now(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Rollback(Exception):
    """Raised by ``work`` to undo everything it wrote and still answer ``outcome``.

    Used where the answer is not an error (a failed atomic batch is a 201 with a result per
    item): the unit aborts, a second short unit records ``outcome`` under the key.
    """

    def __init__(self, outcome):
        super().__init__("rolled back")
        self.outcome = outcome


def success(result):
    return {"status": 201, "result": result}


def refusal(error):
    return dict(error.facts(), status=error.status, error=error.code, title=error.title,
                detail=error.detail)


def run(store, idem, work):
    """Run ``work(tx) -> outcome`` once per idempotency key; return (result, replayed).

    ``work`` raises a REPLAYED refusal to refuse: the unit aborts, so nothing it wrote
    stays, and a second short unit records the refusal under the key, so a retry is
    refused the same way even if the balance has changed since.
    """
    try:
        outcome, replayed = _once(store, idem, work)
    except Rollback as rollback:
        undone = rollback.outcome
        outcome, replayed = undone, False
        if idem is not None:
            outcome, replayed = _once(store, idem, lambda tx: undone)
    except REPLAYED as error:
        if idem is None:
            raise
        refused = refusal(error)
        outcome, replayed = _once(store, idem, lambda tx: refused)
    if "error" in outcome:
        facts = {k: v for k, v in outcome.items() if k not in ("status", "error", "title", "detail")}
        error = errors.replayed_refusal(outcome["error"], outcome.get("title"))(outcome["detail"], **facts)
        error.replayed = replayed
        raise error
    return outcome["result"], replayed


def _once(store, idem, work):
    def unit(tx):
        if idem is not None:
            recorded = idempotency.lookup(tx, idem)
            if recorded is not None:
                return recorded, True
        outcome = work(tx)
        if idem is not None:
            idempotency.record(tx, idem, outcome)
        return outcome, False

    for _ in range(UNIT_ATTEMPTS - 1):
        try:
            return store.transaction(unit)
        except DuplicateKeyError:
            # A concurrent unit inserted the same key first: the same Idempotency-Key (the
            # retry replays its outcome), or the same first-of-the-day usage document of a
            # wallet (app/ledger/limits.py; the retry finds it). A unique email is settled by
            # the retry too: it finds the client.
            pass
    return store.transaction(unit)
