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


class _Replay(Exception):
    """The key's outcome was found while ``work`` refused: abort the unit, answer the outcome."""

    def __init__(self, outcome):
        super().__init__("replay")
        self.outcome = outcome


def _once(store, idem, work):
    """One unit: ``work``, then its outcome recorded under the key, which the unique index guards.

    The key is not read first: a new key (nearly every request) costs only the record's
    insert. A key already recorded makes that insert fail (KeyTaken): the unit aborts, so
    nothing ``work`` wrote stays, and the recorded outcome is read and replayed. A refusal
    that is not replayed (WalletNotFound ...) looks the key up before it is raised, so a
    retry is never answered differently from the first request, and a reused key is
    reported as reused.
    """
    def unit(tx):
        try:
            outcome = work(tx)
        except errors.ApiError as error:
            if idem is not None and not isinstance(error, REPLAYED):
                recorded = idempotency.lookup(tx, idem)
                if recorded is not None:
                    raise _Replay(recorded) from None
            raise
        if idem is not None:
            idempotency.record(tx, idem, outcome)
        return outcome, False

    for attempt in range(1, UNIT_ATTEMPTS + 1):
        try:
            return store.transaction(unit)
        except _Replay as replay:
            return replay.outcome, True
        except idempotency.KeyTaken:
            recorded = store.read(lambda db: idempotency.lookup(db, idem))
            if recorded is not None:
                return recorded, True
            # Gone since (expired): the unit runs again and records its own.
        except DuplicateKeyError:
            # A concurrent unit inserted the same unique document first: the same first-of-the-day
            # usage document of a wallet (app/ledger/limits.py; the retry finds it), or the same
            # email (the retry finds the client).
            if attempt == UNIT_ATTEMPTS:
                raise
    return store.transaction(unit)
