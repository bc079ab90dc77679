"""Metadata: a caller's own key -> text pairs on transfers, holds, payment requests, withdrawals,
clients and wallets (the request schemas check their shape: schemas/defs.json#/$defs/metadata).

Stored as a list of ``"key=value"`` terms in the order the keys were first set, not as an
object: a key may hold a ``.``, which MongoDB reads as a path in a filter or an update, and a
list of terms is what a multikey index serves (``GET /transfers?metadata[k]=v``). A key never
holds ``=``, so the first ``=`` of a term ends its key.

A merge (``PATCH``) is a conditional update on the terms as read, in one unit of work.
"""
from pymongo import ReturnDocument

from app import errors
from app.ledger.units import now

SEPARATOR = "="
MAX_KEYS = 50


def terms(metadata):
    """{key: value} -> the stored list of terms."""
    return [f"{key}{SEPARATOR}{value}" for key, value in (metadata or {}).items()]


def as_dict(stored):
    """The stored terms (absent on documents older than metadata) -> {key: value}."""
    return dict(term.split(SEPARATOR, 1) for term in stored or [])


def term(key, value):
    return f"{key}{SEPARATOR}{value}"


def merged(stored, changes):
    """The terms after merging ``changes`` ({key: value or None to remove}) into ``stored``."""
    current = as_dict(stored)
    for key, value in changes.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    if len(current) > MAX_KEYS:
        raise errors.ValidationFailed("metadata would have too many keys", errors=[
            {"field": "/metadata", "message": f"may hold at most {MAX_KEYS} keys once merged"}])
    return terms(current)


def merge(tx, collection, query, changes, moment, not_found):
    """Merge ``changes`` into the metadata of the one document ``query`` finds; the document after.

    ``not_found`` is the error raised when there is none. The update's filter repeats the terms
    as read: a merge that committed in between makes this unit conflict and run again (MongoDB),
    so no merge is ever lost.
    """
    doc = getattr(tx, collection).find_one(query)
    if doc is None:
        raise not_found
    stored = doc.get("metadata")
    guard = {"metadata": stored} if stored is not None else {"metadata": {"$exists": False}}
    updated = getattr(tx, collection).find_one_and_update(
        {**query, **guard}, {"$set": {"metadata": merged(stored, changes), "updated_at": moment}},
        return_document=ReturnDocument.AFTER)
    if updated is None:
        raise not_found
    return updated


def update(store, collection, doc_id, caller_client_id, readers, actors, changes, not_found):
    """``PATCH``: merge ``changes`` into one document's metadata; the document after.

    ``caller_client_id`` None is the operator, who may act on any. A client must be named by
    one of the ``readers`` fields to see the document (``not_found`` otherwise, as if it did
    not exist) and by one of the ``actors`` fields to change it (Forbidden otherwise).
    """
    def work(tx):
        doc = getattr(tx, collection).find_one({"_id": doc_id}, {field: 1 for field in readers})
        if doc is None or not _named(doc, caller_client_id, readers):
            raise not_found
        if not _named(doc, caller_client_id, actors):
            raise errors.Forbidden("only the one who made it, or the operator, may change its metadata")
        return merge(tx, collection, {"_id": doc_id}, changes, now(), not_found)

    return store.transaction(work)


def _named(doc, caller_client_id, fields):
    return caller_client_id is None or caller_client_id in {doc.get(field) for field in fields}
