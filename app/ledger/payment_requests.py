"""Payment requests: the payee asks, the payer approves (a transfer) or declines, unanswered ones expire.

A request leaves ``pending`` exactly once: every change of state is an update whose filter
is ``{"_id": id, "status": "pending"}`` (and, for an answer, ``expires_at`` still ahead), in
the unit that makes the change, its money and its event. Of concurrent answers one matches
the filter; the rest find nothing to update and get 409 payment_request_not_pending.

From ``expires_at`` on a pending request reads as ``expired``; ``sweep_expired_requests``
writes that down later. The per-pair limit is a guard document per (payee wallet, payer
wallet), ``pending`` counted by a conditional ``$inc`` with the limit in its filter, and
taken back by every way out of pending: a per-pair document, never one every request writes.
"""
from datetime import timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app import errors, render
from app.ledger import events, pages, quotas, states, units
from app.ledger.invariants import PendingCountLost, require
from app.ledger.metadata import terms as metadata_terms
from app.ledger.transfers import pay
from app.ledger.units import new_id, run, success

PENDING = "pending"
STATUSES = ("pending", "paid", "declined", "canceled", "expired")
SWEEP_BATCH = 100
TENANT_QUOTA = "tenant_pending_payment_request"  # a slot of the tenant's max_pending_payment_requests


def create(store, client_id, to_wallet_id, from_wallet_id, amount_cents, details, expires_in_s,
           max_pending, idem=None, metadata=None, tenant_most=None):
    """The caller (payee) asks the payer's wallet for money; returns (request, replayed).
    At most ``max_pending`` per wallet pair, and ``tenant_most`` pending in the tenant
    (max_pending_payment_requests), each a quota slot the request gives back when it ends."""
    def work(tx):
        if to_wallet_id == from_wallet_id:
            raise errors.AccountsMustBeDifferent("to_wallet_id and from_wallet_id are the same wallet")
        owners = {w["_id"]: w["client_id"] for w in tx.wallets.find(
            {"_id": {"$in": [from_wallet_id, to_wallet_id]}}, {"client_id": 1})}
        if owners.get(to_wallet_id) != client_id:
            raise errors.WalletNotFound(f"you have no wallet {to_wallet_id}")
        if from_wallet_id not in owners:
            raise errors.PayerNotFound(f"no wallet {from_wallet_id} to ask for the money")
        moment = units.now()
        states.touch_open(tx, [to_wallet_id, from_wallet_id], moment)
        _take_slot(tx, to_wallet_id, from_wallet_id, max_pending, moment)
        request_id = new_id("pr")
        tenant_slot = None
        if tenant_most is not None:
            tenant_slot = quotas.take(tx, TENANT_QUOTA, tx.tenant_id, tenant_most, request_id)
            if tenant_slot is None:
                raise errors.ServiceLimitReached(
                    f"the tenant has {tenant_most} pending payment requests "
                    "(max_pending_payment_requests)", limit="max_pending_payment_requests")
        request = {"_id": request_id, "tenant_quota_slot": tenant_slot,
                   "from_wallet_id": from_wallet_id, "to_wallet_id": to_wallet_id,
                   "from_client_id": owners[from_wallet_id], "to_client_id": client_id,
                   "amount_cents": amount_cents, "details": details, "status": PENDING,
                   "created_at": moment, "updated_at": moment,
                   "expires_at": moment + timedelta(seconds=expires_in_s), "transfer_id": None,
                   "metadata": metadata_terms(metadata)}
        tx.payment_requests.insert_one(request)
        _announce(tx, request, moment)
        return success(request)

    try:
        return run(store, idem, work)
    except DuplicateKeyError:
        # The pair's first two requests at once on MongoDB: the loser's insert of the pair
        # document collides; run again, the document now exists. (With a key, run retries.)
        return run(store, idem, work)


def approve(store, client_id, request_id, idem=None):
    """The payer pays: one unit moves the money and marks the request paid; returns (transfer, replayed).

    The request's state change names its transfer (its id is made first), and both events
    (transfer.posted, payment_request.paid) go in one insert."""
    def work(tx):
        moment = units.now()
        transfer_id = new_id("tr")
        request = _leave_pending(tx, request_id, client_id, "from_client_id", "paid", moment,
                                 transfer_id=transfer_id)
        transfer = pay(tx, client_id, request["from_wallet_id"], request["to_wallet_id"],
                       request["amount_cents"], request["details"], moment,
                       links={"payment_request_id": request_id}, transfer_id=transfer_id,
                       also=[_announcement(request, moment)])
        return success(transfer)

    return run(store, idem, work)


def decline(store, client_id, request_id):
    """The payer refuses; returns the request, declined."""
    return _answer(store, client_id, request_id, "from_client_id", "declined")


def cancel(store, client_id, request_id):
    """The payee withdraws it; returns the request, canceled."""
    return _answer(store, client_id, request_id, "to_client_id", "canceled")


def _answer(store, client_id, request_id, party, status):
    def work(tx):
        moment = units.now()
        request = _leave_pending(tx, request_id, client_id, party, status, moment)
        _announce(tx, request, moment)
        return success(request)

    return run(store, None, work)[0]


def _as_party(tx, request_id, client_id, party):
    """The request if the caller is ``party``; 404 for a stranger, 403 for the other party."""
    request = tx.payment_requests.find_one({"_id": request_id})
    if request is None or client_id not in (request["from_client_id"], request["to_client_id"]):
        raise errors.PaymentRequestNotFound(f"no payment request {request_id}")
    if request[party] != client_id:
        who = "payer" if party == "from_client_id" else "payee"
        raise errors.Forbidden(f"only the {who} of the request may do this")
    return request


def _leave_pending(tx, request_id, client_id, party, status, moment, transfer_id=None):
    """Move a live pending request of which the caller is ``party`` to ``status`` (naming its
    ``transfer_id`` if paid) and give its pair slot back. One conditional update, no read
    first: only a refused one reads, for 404 (a stranger), 403 (the other party) or 409."""
    changes = {"status": status, "updated_at": moment}
    if transfer_id is not None:
        changes["transfer_id"] = transfer_id
    changed = tx.payment_requests.find_one_and_update(
        {"_id": request_id, party: client_id, "status": PENDING, "expires_at": {"$gt": moment}},
        {"$set": changes}, return_document=ReturnDocument.AFTER)
    if changed is None:
        request = _as_party(tx, request_id, client_id, party)
        raise errors.PaymentRequestNotPending(
            f"payment request {request_id} is {seen(request, moment)['status']}, not pending")
    _give_slot(tx, changed)
    return changed


def _pair_id(payee_wallet_id, payer_wallet_id):
    return f"{payee_wallet_id}:{payer_wallet_id}"


def _take_slot(tx, payee, payer, limit, moment):
    """Count one more pending request for the pair, or refuse past the limit."""
    pair_id = _pair_id(payee, payer)
    if tx.payment_request_pairs.find_one({"_id": pair_id}) is None:
        # Two first requests of a pair at once: MongoDB aborts one (a write conflict) and retries it.
        tx.payment_request_pairs.insert_one({"_id": pair_id, "pending": 0})
    for attempt in range(2):
        if tx.payment_request_pairs.find_one_and_update(
                {"_id": pair_id, "pending": {"$lt": limit}}, {"$inc": {"pending": 1}}) is not None:
            return
        # Lapsed requests still hold slots until swept: free the pair's own, then try once more.
        if attempt or not _expire_pair(tx, payee, payer, moment):
            break
    raise errors.ServiceLimitReached(
        f"wallet {payee} already has {limit} pending requests to wallet {payer} "
        "(MAX_PENDING_REQUESTS_PER_PAYER)")


def _give_slot(tx, request):
    quotas.give_back(tx, TENANT_QUOTA, tx.tenant_id, request.get("tenant_quota_slot"))
    pair = tx.payment_request_pairs.find_one_and_update(
        {"_id": _pair_id(request["to_wallet_id"], request["from_wallet_id"]), "pending": {"$gt": 0}},
        {"$inc": {"pending": -1}})
    require(pair is not None, PendingCountLost, f"no slot to give back for {request['_id']}")


def _announce(tx, request, moment):
    """payment_request.created, .paid, .declined, .canceled or .expired, in the unit that made it so."""
    tx.events.insert_one(_announcement(request, moment)())


def _announcement(request, moment):
    """The request's event, made when called (after any event it must follow in the feed)."""
    name = "created" if request["status"] == PENDING else request["status"]
    return lambda: events.new_event(f"payment_request.{name}",
                                    [request["from_wallet_id"], request["to_wallet_id"]],
                                    render.payment_request(request), moment)


def _expire(tx, request_id, moment):
    """Write down one lapsed request as expired; False if it was answered or is not lapsed."""
    request = tx.payment_requests.find_one_and_update(
        {"_id": request_id, "status": PENDING, "expires_at": {"$lte": moment}},
        {"$set": {"status": "expired", "updated_at": moment}}, return_document=ReturnDocument.AFTER)
    if request is None:
        return False
    _give_slot(tx, request)
    _announce(tx, request, moment)
    return True


def _expire_pair(tx, payee, payer, moment):
    lapsed = tx.payment_requests.find({"to_wallet_id": payee, "from_wallet_id": payer,
                                       "status": PENDING, "expires_at": {"$lte": moment}}, {"_id": 1})
    return sum(_expire(tx, request["_id"], moment) for request in list(lapsed))


def sweep_expired_requests(store, now, limit=SWEEP_BATCH):
    """A sweeper step: write down up to ``limit`` requests lapsed by ``now``, one small unit each."""
    lapsed = store.read(lambda db: list(db.payment_requests.find(
        {"status": PENDING, "expires_at": {"$lte": now}}, {"_id": 1, "tenant_id": 1}).limit(limit)))
    return sum(store.tenant(request["tenant_id"]).transaction(lambda tx: _expire(tx, request["_id"], now))
               for request in lapsed)


def seen(request, moment):
    """The request as it reads at ``moment``: a pending one past expires_at is expired."""
    if request["status"] == PENDING and request["expires_at"] <= moment:
        return dict(request, status="expired")
    return request


def get(store, request_id):
    request = store.read(lambda db: db.payment_requests.find_one({"_id": request_id}))
    return None if request is None else seen(request, units.now())


def list_requests(store, client_id, role, status, limit, after=None):
    """The caller's requests, newest first: (page, has_more). ``after``: (created_at, id) of the last."""
    moment = units.now()
    parties = {"payer": ["from_client_id"], "payee": ["to_client_id"], None: [
        "from_client_id", "to_client_id"]}[role]
    scopes = [(party, client_id) for party in parties]
    clauses = [] if status is None else [pages.status_clause(status, moment)]
    page, has_more = store.read(lambda db: pages.newest_first(
        db.payment_requests, scopes, clauses, limit, after))
    return [seen(request, moment) for request in page], has_more
