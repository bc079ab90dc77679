"""Statements: a wallet's journal for a period, streamed as CSV, JSON or XML; and its
balance as of a moment or a journal position, cut the same way."""
from datetime import datetime, timedelta, timezone

from flask import Blueprint, Response, g, request, stream_with_context

import reports
from app import errors, render
from app.web import auth
from app.ledger import statements
from app.routes.wallets import readable_wallet
from app.web.pagination import MAX_SEQ

bp = Blueprint("reports", __name__)
# Asked for with Accept when there is no ?format=; the first is the answer to */*.
MEDIA_TYPES = {"application/json": "json", "text/csv": "csv", "application/xml": "xml",
               "text/xml": "xml"}
BOUND_MESSAGE = ("must be an ISO 8601 date or date-time from 0001-01-01 to 9999-12-31 (UTC), "
                 "e.g. 2024-01-31 or 2024-01-31T12:00:00Z")
# ?at= counts its own millisecond, so the last one a balance can be asked for is a millisecond short.
AT_MESSAGE = BOUND_MESSAGE + ", before 9999-12-31T23:59:59.999Z"


def parse_moment(text):
    """An ISO 8601 date or date-time as naive UTC (UTC when it has no offset).
    ValueError or OverflowError if it is none, or if it falls outside years 1 to 9999 in UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def parse_bound(text):
    """``parse_moment`` rounded up to the millisecond: journal times are whole milliseconds,
    so ``created_at >= bound`` and ``created_at < bound`` keep their meaning."""
    moment = parse_moment(text)
    if moment.microsecond % 1000:
        moment += timedelta(microseconds=1000 - moment.microsecond % 1000)
    return moment


def query_bound(args, name, problems):
    """The query parameter ``name`` as a bound (None when absent or empty); a bad one is added to
    ``problems`` (every problem of a query is answered at once)."""
    text = args.get(name, "")
    if not text:
        return None
    try:
        return parse_bound(text)
    except (ValueError, OverflowError):
        problems.append({"field": name, "message": BOUND_MESSAGE})
        return None


def _format(problems):
    name = request.args.get("format")
    if name is None:
        if not request.accept_mimetypes.provided:
            return "json"
        best = request.accept_mimetypes.best_match(list(MEDIA_TYPES))
        if best is None:
            raise errors.NotAcceptable("Accept names none of text/csv, application/json, "
                                       "application/xml; or ask with ?format=csv|json|xml")
        return MEDIA_TYPES[best]
    if name.lower() not in reports.FORMATS:
        problems.append({"field": "format", "message": "must be one of csv, json, xml"})
    return name.lower()


def report_query():
    """(format, from, to) from the query string and Accept; every problem at once."""
    problems = []
    kind = _format(problems)
    start, end = query_bound(request.args, "from", problems), query_bound(request.args, "to", problems)
    if start is not None and end is not None and start > end:
        problems.append({"field": "from", "message": "must not be after to"})
    if problems:
        raise errors.ValidationFailed("the report parameters are not valid", errors=problems)
    return reports.FORMATS[kind], start, end


def _utf8(chunks):
    # A lone surrogate (only the embedded engine can store one) has no UTF-8 form; "?" it is.
    for chunk in chunks:
        yield chunk.encode("utf-8", "replace")


@bp.get("/wallets/<wallet_id>/report")
@auth.required()
def wallet_report(wallet_id):
    """A wallet's statement for [from, to), streamed; fixed at the wallet's current version."""
    report_format, start, end = report_query()
    store = g.store
    statement = statements.plan(store, readable_wallet(wallet_id), start, end)
    entries = statements.journal(store, statement.wallet_id, statement.opening_seq,
                                 statement.closing_seq)
    body = stream_with_context(_utf8(report_format.build(statement, entries)))
    response = Response(body, content_type=report_format.content_type)
    name = reports.filename(statement, report_format.extension)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.vary.add("Accept")
    return response


def as_of_query():
    """(moment, seq) from ?at= or ?seq=: exactly one of them; every problem at once."""
    at, seq = request.args.get("at"), request.args.get("seq")
    if (at is None) == (seq is None):
        raise errors.ValidationFailed("give either at or seq", errors=[
            {"field": "at", "message": "give exactly one of at (ISO 8601) and seq"}])
    if seq is not None:
        if not (seq.isascii() and seq.isdigit()) or int(seq) > MAX_SEQ:
            raise errors.ValidationFailed("seq is not valid", errors=[
                {"field": "seq", "message": "must be a whole number >= 0"}])
        return None, int(seq)
    try:
        moment = parse_moment(at)
        statements.next_millisecond(moment)  # the balance's cut: OverflowError past the last one
    except (ValueError, OverflowError):
        raise errors.ValidationFailed("at is not valid", errors=[
            {"field": "at", "message": AT_MESSAGE}]) from None
    return moment, None


@bp.get("/wallets/<wallet_id>/balance")
@auth.required()
def balance_as_of(wallet_id):
    """The wallet's posted balance right after the last entry at or before ?at= or ?seq=."""
    moment, seq = as_of_query()
    wallet = readable_wallet(wallet_id)
    cut, balance_cents, created_at = statements.balance_as_of(
        g.store, wallet, moment, seq)
    return render.balance_as_of(wallet_id, cut, balance_cents, moment or created_at)
