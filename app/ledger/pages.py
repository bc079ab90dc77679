"""Newest-first cursor pages over a caller's documents (holds, payment requests, withdrawals)."""
import heapq

from pymongo import DESCENDING

from app.storage.schema import newest_first_index

PENDING = "pending"
ORDER = [("created_at", DESCENDING), ("_id", DESCENDING)]


def status_clause(status, moment):
    """The filter for ``status`` as documents read now: a due pending one reads as expired."""
    if status == PENDING:
        return {"status": PENDING, "expires_at": {"$gt": moment}}
    if status == "expired":
        return {"$or": [{"status": "expired"}, {"status": PENDING, "expires_at": {"$lte": moment}}]}
    return {"status": status}


def newest_first(collection, scopes, clauses, limit, before):
    """Up to ``limit`` documents of any of ``scopes`` that match ``clauses``, older than ``before``
    (the (created_at, id) of the previous page's last one); and whether more exist.

    A scope is (field, value): the caller's side of the index ``newest_first_index(field)``. Each
    is read through its own index, named (MongoDB's planner could otherwise walk one that holds
    every caller's documents), and the pages are merged newest first.
    """
    clauses = [*clauses, *_older_than(before)]
    walks = [scoped(field, value, clauses) for field, value in scopes]
    pages = [collection.find(query, hint=hint).sort(ORDER).limit(limit + 1) for query, hint in walks]
    page = list(_distinct(heapq.merge(*pages, key=_stamp, reverse=True), limit + 1))
    return page[:limit], len(page) > limit


def scoped(field, value, clauses):
    """(filter, hint) of one scope: ``field`` None reads every caller's documents, newest first."""
    scope = [] if field is None else [{field: value}]
    return {"$and": [*scope, *clauses]} if scope or clauses else {}, newest_first_index(field)


def older_than(before):
    return _older_than(before)


def _older_than(before):
    if before is None:
        return []
    created_at, last_id = before
    # The first bounds the index walk; the second breaks the tie within that millisecond.
    return [{"created_at": {"$lte": created_at}},
            {"$or": [{"created_at": {"$lt": created_at}},
                     {"created_at": created_at, "_id": {"$lt": last_id}}]}]


def _stamp(doc):
    return doc["created_at"], doc["_id"]


def _distinct(docs, most):
    """Up to ``most`` of ``docs`` (in order), each once: one in two scopes comes twice in a row."""
    last_id = None
    for doc in docs:
        if doc["_id"] != last_id:
            yield doc
            most -= 1
            if not most:
                return
        last_id = doc["_id"]
