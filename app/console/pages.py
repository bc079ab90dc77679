"""The console's pages: reads only, each through the ledger functions the API reads with.

TODO(issue 25): the admin log page (GET /console/admin-log), once the ledger keeps one: the
tenant's entries (every tenant's for the platform operator), newest first, scope audit:read.
TODO(issue 27): transfers by the API's search filters on the search page, once the ledger
searches transfers.
"""
from flask import current_app, g, redirect, render_template, request, url_for

from app import audit, errors, ledger
from app.console import bp, forms
from app.console.guard import needs
from app.ledger import backoffice, limits
from app.web.pagination import read_seq_cursor, seq_cursor

PAGE = 20
QUEUE = 100
# ?notice= after an action: a fixed text per code, never text taken from the URL.
NOTICES = {"deposited": "Deposit posted.", "deposit_replayed": "That deposit was already posted "
           "(the same form sent twice): nothing more was moved.",
           "limits_set": "Limits saved.", "settled": "Withdrawal settled.",
           "settle_replayed": "That settlement was already recorded.",
           "retried": "Delivery due again: the dispatcher sends it next."}


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
    """A client by email, or anything of ours by id; a wallet (or a client's) opens its page."""
    query = request.args.get("q", "").strip()
    if not query:
        return render_template("console/search.html", query="", kind=None, found=None)
    kind, found = backoffice.find(store(), query[:320])
    if kind == "wallet":
        return redirect(url_for("console.wallet", wallet_id=found["_id"]), 303)
    wallet = backoffice.wallet_of_client(store(), found["_id"]) if kind == "client" else None
    status = 200 if found else 404
    return render_template("console/search.html", query=query, kind=kind, found=found,
                           wallet=wallet), status


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
        # TODO(issue 27): the wallet's own status and reason, and its freeze / unfreeze / close
        # forms; until the ledger keeps a status every wallet is active.
        status=found.get("status", "active"), usage=limits.status(store(), wallet_id),
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
