"""The outbox: each unit of work that moves or reserves money writes its events in the same unit.

An event exists if and only if its effect committed: ``emit`` is only ever called
with the ``tx`` of the unit that made the change. Delivery (the feed, webhooks,
e-mail) reads this collection; nothing here sends anything.

The feed's order is (created_at, _id). A writer takes ``created_at`` before it
commits, so on MongoDB an event can become visible after a later one already
has; the feed therefore serves only events older than a settle window longer
than any transaction can live (``EVENTS_SETTLE_MS``), and a cursor past an event
is never passed by one that commits later. No counter document is written.
"""
import itertools
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from pymongo import ASCENDING

from app.ledger.invariants import UnknownEventType, require
from app.ledger.units import now
from app.storage import schema

ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    transfer_field: str | None = None  # data path ("a.b") to the posted transfer's id: e-mailed


# The one table of event types. The schemas (event.json, delivery.json, the webhook endpoint's)
# and the OpenAPI document say "x-values": "event_types" and read it when they load.
EVENT_TYPES = {event.name: event for event in (
    EventType("deposit.posted", "the operator topped a wallet up (data: the deposit)", "transfer_id"),
    EventType("transfer.posted", "money moved between two wallets (data: the transfer)", "id"),
    EventType("hold.created", "money reserved on the payer's wallet (data: the hold)"),
    EventType("hold.captured", "part or all of a hold paid to the receiver (data: the hold and its "
                               "transfer)", "transfer.id"),
    EventType("hold.voided", "a hold released by its payer (data: the hold)"),
    EventType("hold.expired", "a hold released at its expiry (data: the hold)"),
    EventType("payment_request.created", "a payee asked a payer for money (data: the request)"),
    EventType("payment_request.paid", "the payer approved and paid a request (data: the request, "
                                      "with its transfer_id)", "transfer_id"),
    EventType("payment_request.declined", "the payer refused a request (data: the request)"),
    EventType("payment_request.canceled", "the payee withdrew a request (data: the request)"),
    EventType("payment_request.expired", "a request nobody answered, written down as expired "
                                         "(data: the request)"),
    EventType("refund.posted", "money given back for a transfer (data: the refund, with refund_of)",
              "id"),
    EventType("withdrawal.created", "money held on a wallet for a payout (data: the withdrawal)"),
    EventType("withdrawal.processing", "a withdrawal handed to the payout provider (data: the "
                                       "withdrawal, with provider_reference)"),
    EventType("withdrawal.succeeded", "a payout confirmed: the money moved to payouts (data: the "
                                      "withdrawal and its transfer)", "transfer.id"),
    EventType("withdrawal.failed", "a payout failed: the money is available again (data: the "
                                   "withdrawal, with failure_reason)"),
    EventType("withdrawal.returned", "a payout returned by the bank: the money came back (data: "
                                     "the withdrawal and its transfer)", "transfer.id"),
    EventType("wallet.frozen", "the operator froze a wallet: no money may leave it (data: the wallet)"),
    EventType("wallet.unfrozen", "the operator made a frozen wallet active again (data: the wallet)"),
    EventType("wallet.closed", "the operator closed an empty wallet for good (data: the wallet)"),
    EventType("balance_monitor.triggered", "a movement made a balance monitor's condition true "
                                           "(data: the monitor, the wallet and the amount after)"),
)}


_sequence = itertools.count()


def _event_id():
    """24 hex digits: a process-wide counter (so events one process writes in one millisecond
    keep their order in the feed, which sorts by (created_at, id)), then 64 random bits."""
    return f"evt_{next(_sequence) % 16**8:08x}{secrets.token_hex(8)}"


def emit(tx, event_type, wallet_ids, data, moment, also=()):
    """Append one event: ``data`` is the object as the API shows it (app/render.py). ``also``:
    calls that make more events of the unit, appended after it in the same insert."""
    event = new_event(event_type, wallet_ids, data, moment)
    if also:
        tx.events.insert_many([event, *(make() for make in also)])
    else:
        tx.events.insert_one(event)
    return event


def new_event(event_type, wallet_ids, data, moment):
    """An event to append (``emit``, or a batch's one ``insert_many`` of its unit)."""
    require(event_type in EVENT_TYPES, UnknownEventType, f"{event_type!r} is not in EVENT_TYPES")
    return {"_id": _event_id(), "type": event_type, "created_at": moment,
            "wallet_ids": sorted({w for w in wallet_ids if w}), "data": data,
            "pending_fanout": True}  # unset by the dispatcher once its deliveries exist


def horizon(settle_ms):
    """A moment before which every event has committed, on the clock's millisecond grid.

    Waits (under 1 ms) until the clock has passed the current millisecond, so any unit that
    takes its time from now on gets a later one; on the embedded engine, whose units hold
    the store lock from taking their time to commit, the read that follows (under that lock)
    sees every event before the horizon. On MongoDB a unit commits up to a transaction's
    life after taking its time: ``settle_ms`` (longer than that) moves the horizon back.
    """
    edge = now() + ONE_MS
    while now() < edge:
        time.sleep(0.0002)
    return edge - timedelta(milliseconds=settle_ms)


def list_events(store, limit, settled_before, after=None, wallet_id=None, event_type=None):
    """Oldest first: up to ``limit`` events created before ``settled_before`` and past ``after``.

    ``after`` is (created_at, id) of the last event already seen.
    """
    query = {"created_at": {"$lt": settled_before}}
    if after is not None:
        query["created_at"]["$gte"] = after[0]  # bounds the index walk; the $or breaks the tie
        query["$or"] = [{"created_at": {"$gt": after[0]}},
                        {"created_at": after[0], "_id": {"$gt": after[1]}}]
    if wallet_id is not None:
        query["wallet_ids"] = wallet_id
    if event_type is not None:
        query["type"] = event_type
    # A client's events through the index its wallet leads, named: the planner could otherwise
    # walk every caller's events in (created_at, _id) order.
    index = schema.FEED_INDEX if wallet_id is None else schema.WALLET_FEED_INDEX
    page = store.read(lambda db: list(db.events.find(query, hint=index).sort(
        [("created_at", ASCENDING), ("_id", ASCENDING)]).limit(limit + 1)))
    return page[:limit], len(page) > limit
