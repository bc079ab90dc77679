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

SCAN_UP_TO = 1000  # up to this many slots, a taker reads them all and picks a free one
PROBES = 4         # past it, it tries this many random slots before reading them all


def take(tx, kind, owner, most, holder_id):
    """A free slot number below ``most`` for ``holder_id``, inserted now; None if none is free.

    Picked at random among the free ones, so that racing takers rarely pick the same one
    (those that do collide on the unique index, and the loser's unit runs again)."""
    slot = None
    if most > SCAN_UP_TO:
        for _ in range(PROBES):
            probe = random.randrange(most)
            if tx.quota_slots.find_one({"kind": kind, "owner": owner, "slot": probe}, {"_id": 1}) is None:
                slot = probe
                break
    if slot is None:
        slot = _free_slot(tx, kind, owner, most)
        if slot is None:
            return None
    tx.quota_slots.insert_one({"kind": kind, "owner": owner, "slot": slot, "holder_id": holder_id})
    return slot


def _free_slot(tx, kind, owner, most):
    """A slot below ``most`` not taken, at random; None if all are taken."""
    taken = tx.quota_slots.find({"kind": kind, "owner": owner, "slot": {"$lt": most}}, {"slot": 1})
    used = {doc["slot"] for doc in taken}
    if len(used) >= most:
        return None
    while True:  # most is larger than what is used: a free one is found in a few tries on average
        slot = random.randrange(most)
        if slot not in used:
            return slot


def give_back(tx, kind, owner, slot):
    """Free ``slot`` (the one a thing took) in the unit that ends that thing."""
    if slot is not None:
        tx.quota_slots.delete_one({"kind": kind, "owner": owner, "slot": slot})
