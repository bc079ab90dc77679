"""GET /transfers: search the transfers the caller may see, newest first, a page at a time."""
import re

from flask import Blueprint, g, request

from app import errors, ledger, render
from app.ledger import search
from app.money import is_valid_amount, parse_cents
from app.routes import choice
from app.routes.reports import query_bound
from app.routes.wallets import readable_wallet
from app.web.pagination import page_limit, position_cursor, read_position_cursor
from app.web import auth

bp = Blueprint("search", __name__)
CURSOR_KIND = "tr"
METADATA_PARAMETER = re.compile(r"metadata\[([A-Za-z0-9_.-]{1,40})\]")
MAX_VALUE = 500
AMOUNT_MESSAGE = 'must be a string of dollars with at most two decimals, e.g. "12.34"'


def _amount(args, name, problems):
    text = args.get(name)
    if text is None:
        return None
    if not is_valid_amount(text):
        problems.append({"field": name, "message": AMOUNT_MESSAGE})
        return None
    return parse_cents(text)


def _metadata(args, problems):
    pairs = []
    for name, value in args.items(multi=True):
        if not name.startswith("metadata"):
            continue
        match = METADATA_PARAMETER.fullmatch(name)
        if match is None or len(value) > MAX_VALUE:
            problems.append({"field": name, "message": "give metadata[<key>]=<value>: a key of 1 to 40 "
                             "characters of A-Z a-z 0-9 _ . -, a value of at most 500 characters"})
            continue
        pairs.append((match.group(1), value))
    return tuple(pairs)


def parse_filters(args):
    """The search's filters from a query string (``args``: a MultiDict; the console's form sends
    the same names); every problem at once."""
    problems = []
    kind = choice("type", search.TYPES, args)
    filters = search.Filters(
        wallet_id=args.get("wallet_id"), type=kind,
        counterparty_wallet_id=args.get("counterparty_wallet_id"),
        min_amount_cents=_amount(args, "min_amount", problems),
        max_amount_cents=_amount(args, "max_amount", problems),
        created_from=query_bound(args, "created_from", problems),
        created_to=query_bound(args, "created_to", problems),
        metadata=_metadata(args, problems))
    if problems:
        raise errors.ValidationFailed("the search parameters are not valid", errors=problems)
    return filters


@bp.get("/transfers")
@auth.required()
def search_transfers():
    """Transfers a wallet pays or receives (a client: its own), filtered, newest first."""
    limit, after, filters = page_limit(), request.args.get("after"), parse_filters(request.args)
    before = read_position_cursor(after, CURSOR_KIND) if after is not None else None
    store = g.store
    if filters.wallet_id is not None:
        readable_wallet(filters.wallet_id)  # another client's is 404, like one that does not exist
    elif not g.caller.is_operator:
        filters = filters._replace(wallet_id=ledger.get_client_wallet(store, g.caller.client_id)["_id"])
    page, has_more = search.search(store, filters, limit, before)
    return {"data": [render.transfer(t) for t in page], "has_more": has_more,
            "next_cursor": position_cursor(page[-1], CURSOR_KIND) if has_more else None}
