"""Newest-first cursor pages over documents that expire (holds, payment requests)."""
from pymongo import DESCENDING

PENDING = "pending"


def status_clause(status, moment):
    """The filter for ``status`` as documents read now: a due pending one reads as expired."""
    if status == PENDING:
        return {"status": PENDING, "expires_at": {"$gt": moment}}
    if status == "expired":
        return {"$or": [{"status": "expired"}, {"status": PENDING, "expires_at": {"$lte": moment}}]}
    return {"status": status}


def newest_first(collection, clauses, limit, status, moment, before):
    """Up to ``limit`` documents matching ``clauses`` (and status), before the (created_at, id)
    of the last one of the previous page; and whether more exist."""
    clauses = list(clauses)
    if status is not None:
        clauses.append(status_clause(status, moment))
    if before is not None:
        created_at, last_id = before
        clauses.append({"$or": [{"created_at": {"$lt": created_at}},
                                {"created_at": created_at, "_id": {"$lt": last_id}}]})
    page = list(collection.find({"$and": clauses}).sort(
        [("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit + 1))
    return page[:limit], len(page) > limit
