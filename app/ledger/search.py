"""GET /transfers: find transfers by wallet, type, counterparty, amount, time and metadata.

Newest first, a cursor page at a time. Every search walks one index named by a hint, led by
the field that narrows it most (app/storage/schema.py SEARCH_LEADS); the other filters are
clauses of the same walk. A wallet's search reads its two indexes (as payer, as payee) and
merges them, as the other listings do (app/ledger/pages.py). docs/features/metadata-search-states.md
has the table of which index serves which filters.
"""
from typing import NamedTuple

from app.ledger import pages
from app.ledger.metadata import term

TYPES = ("transfer", "deposit", "refund", "withdrawal", "withdrawal_return")


class Filters(NamedTuple):
    wallet_id: str | None = None           # one wallet's: it pays or receives
    type: str | None = None
    counterparty_wallet_id: str | None = None
    min_amount_cents: int | None = None
    max_amount_cents: int | None = None
    created_from: object = None            # naive UTC, inclusive
    created_to: object = None              # naive UTC, exclusive
    metadata: tuple = ()                   # ((key, value), ...): all of them


def clauses(filters):
    """The filters other than the scope, as query clauses."""
    found = []
    if filters.type is not None:
        found.append({"type": filters.type})
    if filters.counterparty_wallet_id is not None and filters.wallet_id is not None:
        found.append({"$or": [{"from_wallet_id": filters.counterparty_wallet_id},
                              {"to_wallet_id": filters.counterparty_wallet_id}]})
    amount = {op: cents for op, cents in (("$gte", filters.min_amount_cents),
                                          ("$lte", filters.max_amount_cents)) if cents is not None}
    if amount:
        found.append({"amount_cents": amount})
    created = {op: moment for op, moment in (("$gte", filters.created_from),
                                             ("$lt", filters.created_to)) if moment is not None}
    if created:
        found.append({"created_at": created})
    found.extend({"metadata": term(key, value)} for key, value in filters.metadata)
    return found


def scopes(filters):
    """[(field, value)]: the index walks a search merges (field None: every transfer)."""
    wallet = filters.wallet_id or filters.counterparty_wallet_id
    if wallet is not None:
        return [("from_wallet_id", wallet), ("to_wallet_id", wallet)]
    if filters.metadata:
        return [("metadata", term(*filters.metadata[0]))]
    if filters.type is not None:
        return [("type", filters.type)]
    return [(None, None)]


def queries(filters, before=None):
    """[(filter, hint)] exactly as ``search`` sends them (tests explain each one)."""
    more = [*clauses(filters), *pages.older_than(before)]
    return [pages.scoped(field, value, more) for field, value in scopes(filters)]


def search(store, filters, limit, before=None):
    """Up to ``limit`` transfers matching ``filters``, newest first, older than ``before`` (the
    (created_at, id) of the previous page's last); and whether more exist."""
    return store.read(lambda db: pages.newest_first(
        db.transfers, scopes(filters), clauses(filters), limit, before))
