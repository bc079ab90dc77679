"""Quotas: at most N live things of a kind per owner, counted race-free without a hot document.

A count read and compared in a unit of work decides on documents the unit does not
write: two units that each see N-1 both pass on MongoDB (write skew under snapshot
isolation). Here each live thing holds one numbered slot, a document of its own in
``quota_slots`` under a unique index on (kind, owner, slot), with slot < N. Taking a
slot inserts that document, so two units that pick the same number collide on the
index (one aborts and runs again, units.run) and no more than N slots can ever exist.
No document is written by every creation: each slot is its own.

A slot is given back (its document deleted) in the unit that ends the thing's life.
"""
import random

from pymongo import DESCENDING


def take(tx, kind, owner, most, holder_id):
    """A free slot number below ``most`` for ``holder_id``, inserted now; None if none is free."""
    top = list(tx.quota_slots.find({"kind": kind, "owner": owner}, {"slot": 1})
               .sort("slot", DESCENDING).limit(1))
    slot = top[0]["slot"] + 1 if top else 0
    if slot >= most:
        slot = _free_slot(tx, kind, owner, most)
        if slot is None:
            return None
    tx.quota_slots.insert_one({"kind": kind, "owner": owner, "slot": slot, "holder_id": holder_id})
    return slot


def _free_slot(tx, kind, owner, most):
    """A slot below ``most`` given back earlier (a hole), at random so that racing takers
    rarely pick the same one; None if all are taken."""
    taken = tx.quota_slots.find({"kind": kind, "owner": owner, "slot": {"$lt": most}}, {"slot": 1})
    used = {doc["slot"] for doc in taken}
    free = [slot for slot in range(most) if slot not in used] if len(used) < most else []
    return random.choice(free) if free else None


def give_back(tx, kind, owner, slot):
    """Free ``slot`` (the one a thing took) in the unit that ends that thing."""
    if slot is not None:
        tx.quota_slots.delete_one({"kind": kind, "owner": owner, "slot": slot})
