"""The console's pages: reads only, each through the ledger functions the API reads with."""
from flask import current_app, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from app import audit, errors, ledger
from app.console import bp, forms
from app.console.guard import needs
from app.ledger import admin_log, backoffice, limits, search as transfer_search, states
from app.routes import choice
from app.routes.admin_log import CURSOR_KIND as ADMIN_CURSOR
from app.routes.search import CURSOR_KIND as TRANSFER_CURSOR, parse_filters
from app.web.pagination import position_cursor, read_position_cursor, read_seq_cursor, seq_cursor

PAGE = 20
QUEUE = 100
# ?notice= after an action: a fixed text per code, never text taken from the URL.
NOTICES = {"deposited": "Deposit posted.", "deposit_replayed": "That deposit was already posted "
           "(the same form sent twice): nothing more was moved.",
           "limits_set": "Limits saved.", "settled": "Withdrawal settled.",
           "settle_replayed": "That settlement was already recorded.",
           "retried": "Delivery due again: the dispatcher sends it next.",
           "frozen": "Wallet frozen: no money leaves it.", "unfrozen": "Wallet active again.",
           "closed": "Wallet closed for good."}
# The transfer search's form: the API's query parameters (GET /transfers), and one metadata pair.
SEARCH_FIELDS = ("wallet_id", "type", "counterparty_wallet_id", "min_amount", "max_amount",
                 "created_from", "created_to")


def store():
    """The signed-in caller's tenant's books (bound by the guard, as the API's auth binds them)."""
    return g.store


def notice():
    return NOTICES.get(request.args.get("notice", ""))


@bp.get("/")
@needs("audit:read")
def overview():
    """The audit's verdict, the system accounts and what waits for a person."""
    report = audit.verify(store(), current_app.config["AUDIT_BATCH_SIZE"])
    return render_template("console/overview.html", report=report,
                           counts=backoffice.attention(store(), ledger.now()),
                           system_accounts=ledger.system_accounts(store()))


@bp.get("/search")
@needs("wallets:read")
def search():
    """A client by email, or anything of ours by id; a wallet (or a client's) opens its page; or
    transfers by the API's search filters."""
    query = request.args.get("q", "").strip()
    if not query:
        return transfers_found()
    kind, found = backoffice.find(store(), query[:320])
    if kind == "wallet":
        return redirect(url_for("console.wallet", wallet_id=found["_id"]), 303)
    wallet = backoffice.wallet_of_client(store(), found["_id"]) if kind == "client" else None
    status = 200 if found else 404
    return render_template("console/search.html", query=query, kind=kind, found=found,
                           wallet=wallet, fields={}, types=transfer_search.TYPES), status


def search_args():
    """The transfer search form's filled fields as the API's query parameters (an empty field is
    no filter; the metadata pair becomes ``metadata[key]=value``)."""
    args = MultiDict((name, request.args[name].strip()) for name in SEARCH_FIELDS
                     if request.args.get(name, "").strip())
    meta_key = request.args.get("meta_key", "").strip()
    if meta_key:
        args["metadata[" + meta_key + "]"] = request.args.get("meta_value", "")
    return args


def transfers_found():
    """The search page; with filters, the transfers they find, newest first, a page at a time."""
    args, after = search_args(), request.args.get("after")
    fields = {name: request.args.get(name, "") for name in (*SEARCH_FIELDS, "meta_key", "meta_value")}
    shown = dict(query="", kind=None, found=None, fields=fields, types=transfer_search.TYPES)
    if not args:
        return render_template("console/search.html", transfers=None, **shown)
    if not g.caller.has_scope("transfers:read"):
        raise errors.InsufficientScope("searching transfers needs the scope transfers:read",
                                       scope="transfers:read")
    filters = parse_filters(args)
    if filters.wallet_id is not None and ledger.get_wallet(store(), filters.wallet_id) is None:
        raise errors.WalletNotFound(f"no wallet {filters.wallet_id}")  # as GET /transfers answers
    before = read_position_cursor(after, TRANSFER_CURSOR) if after else None
    page, has_more = transfer_search.search(store(), filters, PAGE, before)
    next_url = url_for("console.search", **{k: v for k, v in fields.items() if v}, after=position_cursor(
        page[-1], TRANSFER_CURSOR)) if has_more else None
    return render_template("console/search.html", transfers=page, next_url=next_url, **shown)


@bp.get("/wallets/<wallet_id>")
@needs("wallets:read")
def wallet(wallet_id):
    """A wallet: money, limits and today's use, its journal a page at a time, holds, withdrawals."""
    found = ledger.get_wallet(store(), wallet_id)
    if found is None:
        raise errors.WalletNotFound(f"no wallet {wallet_id}")
    after = request.args.get("after")
    entries, has_more = ledger.list_operations(store(), wallet_id, PAGE,
                                               read_seq_cursor(after) if after else None)
    holds, _ = ledger.list_holds(store(), wallet_id, PAGE)
    withdrawals, _ = ledger.list_withdrawals(store(), wallet_id, PAGE)
    return render_template(
        "console/wallet.html", wallet=found, client=ledger.get_client(store(), found["client_id"]),
        status=states.status_of(found), usage=limits.status(store(), wallet_id),
        entries=entries, next_cursor=seq_cursor(entries[-1]["seq"]) if has_more else None,
        holds=holds, withdrawals=withdrawals, new_key=forms.new_key, notice=notice())


@bp.get("/withdrawals")
@needs("withdrawals:write")
def withdrawals():
    """Withdrawals processing on the manual provider, longest waiting first, with settle forms."""
    queue, more = backoffice.manual_queue(store(), QUEUE)
    return render_template("console/withdrawals.html", queue=[(w, forms.new_key()) for w in queue],
                           more=more, notice=notice(),
                           provider=current_app.config["WITHDRAWAL_PROVIDER"])


@bp.get("/deliveries")
@needs("webhooks:write")
def deliveries():
    """Webhook deliveries failed or being retried, per endpoint, with a retry button each."""
    return render_template("console/deliveries.html", groups=backoffice.troubled_deliveries(store(), QUEUE),
                           notice=notice())


@bp.get("/admin-log")
@needs("audit:read")
def admin_log_page():
    """The admin log newest first (the platform operator's: every tenant's), a page at a time."""
    action = choice("action", admin_log.ACTIONS, MultiDict((k, v) for k, v in request.args.items() if v))
    after = request.args.get("after")
    before = read_position_cursor(after, ADMIN_CURSOR) if after else None
    books = g.platform if g.caller.is_platform else store()
    entries, has_more = admin_log.list_entries(books, action, before, PAGE)
    next_url = url_for("console.admin_log_page", action=action, after=position_cursor(
        {"created_at": entries[-1]["at"], "_id": entries[-1]["_id"]}, ADMIN_CURSOR)) if has_more else None
    return render_template("console/admin_log.html", entries=entries, next_url=next_url, action=action,
                           actions=admin_log.ACTIONS, every_tenant=g.caller.is_platform,
                           own_tenant=g.caller.tenant_id)
