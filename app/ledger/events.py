"""The outbox: each unit of work that moves or reserves money writes its events in the same unit.

An event exists if and only if its effect committed: ``emit`` is only ever called
with the ``tx`` of the unit that made the change. Delivery (the feed, webhooks,
e-mail) reads this collection; nothing here sends anything.
"""
from app.ledger.units import new_id


def emit(tx, event_type, wallet_ids, data, moment):
    """Append one event: ``data`` is the object as the API shows it (app/render.py)."""
    event = {"_id": new_id("evt"), "type": event_type, "created_at": moment,
             "wallet_ids": sorted({w for w in wallet_ids if w}), "data": data}
    tx.events.insert_one(event)
    return event
