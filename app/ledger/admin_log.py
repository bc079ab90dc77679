"""The admin log: every administrative action, appended in the same unit of work as the action.

An entry says who acted (``actor``: the platform operator or an API key, from the unit's
context, app/web/auth.py), in which tenant (stamped by the tenant layer), what was done
(``action``, one of ACTIONS), to what (``target``), the state before and after (never a
secret), and the request it came with.
"""
from app.ledger.units import new_id, now

ACTIONS = ("tenant.created", "tenant.updated", "api_key.created", "api_key.revoked",
           "limits.changed", "deposit.created", "withdrawal.settled", "delivery.retried",
           "webhook_endpoint.created", "webhook_endpoint.deleted", "wallet.frozen",
           "wallet.unfrozen", "wallet.closed")
SYSTEM_ACTOR = {"type": "system", "id": "system"}


def append(tx, action, target, before=None, after=None):
    """Append one entry to the unit ``tx`` (a tenant's): it commits or aborts with the action."""
    if action not in ACTIONS:
        raise ValueError(f"unknown admin action {action!r}")
    context = getattr(tx, "context", None) or {}
    entry = {"_id": new_id("adm"), "at": now(), "actor": context.get("actor", SYSTEM_ACTOR),
             "action": action, "target": target, "before": before, "after": after,
             "request_id": context.get("request_id")}
    tx.admin_log.insert_one(entry)
    return entry


def list_entries(store, action=None, before=None, limit=50):
    """Entries newest first (the store's tenant, or every tenant's across tenants); one more
    than ``limit`` is read to tell whether there are more."""
    query = {} if action is None else {"action": action}
    if before is not None:
        moment, entry_id = before
        query["$or"] = [{"at": {"$lt": moment}}, {"at": moment, "_id": {"$lt": entry_id}}]
    found = store.read(lambda db: list(db.admin_log.find(query).sort([("at", -1), ("_id", -1)])
                                       .limit(limit + 1)))
    return found[:limit], len(found) > limit
