"""Stored documents -> API JSON: cents become "12.34", datetimes ISO 8601 UTC."""
from app.ledger.metadata import as_dict as metadata_of
from app.money import format_cents

# What a journal entry (and its transfer) may name as its cause, in the order shown.
LINK_FIELDS = ("hold_id", "refund_of", "withdrawal_id", "payment_request_id", "batch_id")


def timestamp(moment):
    """A naive UTC datetime as ISO 8601 to the millisecond. Not strftime: its %Y drops the
    padding of years below 1000 ("1-01-01"), which is not ISO 8601."""
    return moment.isoformat(timespec="milliseconds") + "Z"


def client(doc):
    return {"id": doc["_id"], "email": doc["email"], "name": doc["name"],
            "created_at": timestamp(doc["created_at"]), "metadata": metadata_of(doc.get("metadata"))}


def wallet(doc):
    return {"id": doc["_id"], "client_id": doc["client_id"], "currency": doc["currency"],
            "balance": format_cents(doc["balance_cents"]), "held": format_cents(doc["held_cents"]),
            "available": format_cents(doc["available_cents"]), "version": doc["version"],
            "created_at": timestamp(doc["created_at"]), "updated_at": timestamp(doc["updated_at"]),
            "metadata": metadata_of(doc.get("metadata")), "status": doc.get("status") or "active",
            "status_reason": doc.get("status_reason")}


def client_with_wallet(client_doc, wallet_doc):
    return dict(client(client_doc), wallet=wallet(wallet_doc))


def operation(doc):
    return {"id": doc["_id"], "wallet_id": doc["wallet_id"], "seq": doc["seq"], "type": doc["type"],
            "amount": format_cents(doc["amount_cents"]),
            "balance_after": format_cents(doc["balance_after_cents"]),
            "counterparty_wallet_id": doc["counterparty_wallet_id"],
            "transfer_id": doc["transfer_id"], "details": doc["details"],
            "created_at": timestamp(doc["created_at"]), **causes(doc)}


def causes(doc):
    """The links an entry or transfer carries (hold_id, refund_of, ...) and, when the reader
    joined them, its transfer's metadata (``transfer_metadata``); only those present."""
    shown = {name: value for name, value in (doc.get("links") or {}).items() if value is not None}
    if doc.get("transfer_metadata"):
        shown["metadata"] = metadata_of(doc["transfer_metadata"])
    return shown


def deposit(doc):
    return dict(operation(doc), balance=format_cents(doc["balance_after_cents"]))


def transfer(doc):
    shown = {"id": doc["_id"], "type": doc["type"], "from_wallet_id": doc["from_wallet_id"],
             "to_wallet_id": doc["to_wallet_id"], "amount": format_cents(doc["amount_cents"]),
             "details": doc["details"], "status": doc["status"],
             "created_at": timestamp(doc["created_at"])}
    if doc["type"] == "transfer":
        shown.update(refunded_amount=format_cents(doc.get("refunded_cents", 0)),
                     refunds=doc.get("refunds", []))
    shown.update({name: value for name, value in (doc.get("links") or {}).items() if value is not None})
    shown["metadata"] = metadata_of(doc.get("metadata"))
    return shown


def payment_request(doc):
    """A request as seen now: the ledger has already turned a lapsed pending into expired."""
    return {"id": doc["_id"], "from_wallet_id": doc["from_wallet_id"],
            "to_wallet_id": doc["to_wallet_id"], "amount": format_cents(doc["amount_cents"]),
            "details": doc["details"], "status": doc["status"],
            "created_at": timestamp(doc["created_at"]), "expires_at": timestamp(doc["expires_at"]),
            "transfer_id": doc["transfer_id"], "metadata": metadata_of(doc.get("metadata"))}


def transfer_batch(doc):
    return {"id": doc["_id"], "mode": doc["mode"], "created_at": timestamp(doc["created_at"]),
            "results": doc["results"]}


def hold(doc):
    return {"id": doc["_id"], "from_wallet_id": doc["from_wallet_id"],
            "to_wallet_id": doc["to_wallet_id"], "amount": format_cents(doc["amount_cents"]),
            "captured": format_cents(doc["captured_cents"]),
            "remaining": format_cents(doc["remaining_cents"]), "status": doc["status"],
            "details": doc["details"], "created_at": timestamp(doc["created_at"]),
            "expires_at": timestamp(doc["expires_at"]), "metadata": metadata_of(doc.get("metadata"))}


def withdrawal(doc):
    return {"id": doc["_id"], "wallet_id": doc["wallet_id"], "amount": format_cents(doc["amount_cents"]),
            "destination": {"type": doc["destination"]["type"], "account": doc["destination"]["account"]},
            "status": doc["status"], "provider": doc["provider"],
            "provider_reference": doc["provider_reference"], "failure_reason": doc["failure_reason"],
            "details": doc["details"], "created_at": timestamp(doc["created_at"]),
            "updated_at": timestamp(doc["updated_at"]), "metadata": metadata_of(doc.get("metadata"))}


def system_account(total):
    return {"id": total["id"], "name": total["name"], "currency": total["currency"],
            "balance": format_cents(total["balance_cents"]),
            "updated_at": timestamp(total["updated_at"])}


def audit(report):
    """An audit Report as JSON: totals in dollars, the first violations in full."""
    return {"ok": report.ok, "wallets": report.wallets, "entries": report.entries,
            "total_deposited": format_cents(report.total_deposited_cents),
            "total_held": format_cents(report.total_held_cents),
            "accounts_sum": format_cents(report.accounts_sum_cents),
            "system_accounts": {name: format_cents(cents) for name, cents in report.system_balances.items()},
            "violation_count": report.violation_count, "violations": report.violations}


def balance_as_of(wallet_id, seq, balance_cents, moment):
    return {"wallet_id": wallet_id, "balance": format_cents(balance_cents), "seq": seq,
            "at": None if moment is None else timestamp(moment)}


def _limit(name, value):
    if value is None or name == "daily_out_count":
        return value
    return format_cents(value)


def limits(values):
    """name -> cents or count (None: no limit) as the API shows it."""
    return {name: _limit(name, value) for name, value in values.items()}


def limits_status(status):
    """The body of GET /wallets/{id}/limits from app.ledger.limits.status."""
    return {"limits": limits(status["limits"]),
            "usage": {"day": status["day"], "out_amount": format_cents(status["out_amount_cents"]),
                      "out_count": status["out_count"]},
            "remaining": limits(status["remaining"]), "resets_at": timestamp(status["resets_at"])}


def event(doc):
    return {"id": doc["_id"], "type": doc["type"], "created_at": timestamp(doc["created_at"]),
            "wallet_ids": doc["wallet_ids"], "data": doc["data"]}


def webhook_endpoint(doc, with_secret=False):
    """An endpoint; its secret only in the answer to its creation."""
    shown = {"id": doc["_id"], "url": doc["url"], "events": doc["events"], "status": doc["status"],
             "created_at": timestamp(doc["created_at"])}
    if with_secret:
        shown["secret"] = doc["secret"]
    return shown


def _moment(value):
    return timestamp(value) if value is not None else None


def delivery(doc):
    return {"id": doc["_id"], "event_id": doc["event_id"], "event_type": doc["event_type"],
            "status": doc["status"], "attempt_count": doc["attempt_count"],
            "attempts": [{"at": timestamp(a["at"]), "status_code": a["status_code"], "error": a["error"],
                          "duration_ms": a["duration_ms"]} for a in doc["attempts"]],
            "next_attempt_at": _moment(doc["next_attempt_at"]) if doc["status"] == "pending" else None,
            "delivered_at": _moment(doc["delivered_at"]), "created_at": timestamp(doc["created_at"])}


def tenant(doc, default_service_limits):
    """A tenant; its service limits are its own, else the deployment's defaults."""
    return {"id": doc["_id"], "name": doc["name"], "status": doc["status"],
            "service_limits": dict(doc.get("service_limits") or default_service_limits),
            "rate_limit": doc.get("rate_limit"), "created_at": timestamp(doc["created_at"]),
            "updated_at": timestamp(doc["updated_at"])}


def api_key(doc, secret=None):
    """A key without its secret (only a hash is stored); ``secret`` once, when it is made."""
    shown = {"id": doc["_id"], "name": doc["name"], "scopes": list(doc["scopes"]), "status": doc["status"],
             "created_at": timestamp(doc["created_at"]),
             "last_used_at": None if doc.get("last_used_at") is None else timestamp(doc["last_used_at"])}
    if secret is not None:
        shown["secret"] = secret
    return shown


def admin_log_entry(doc):
    return {"id": doc["_id"], "at": timestamp(doc["at"]), "actor": doc["actor"],
            "tenant_id": doc["tenant_id"],
            "action": doc["action"], "target": doc["target"], "before": doc.get("before"),
            "after": doc.get("after"), "request_id": doc.get("request_id")}


def balance_monitor(monitor, wallet_id):
    return {"id": monitor["id"], "wallet_id": wallet_id, "field": monitor["field"],
            "condition": monitor["condition"], "amount": format_cents(monitor["amount_cents"]),
            "description": monitor.get("description"), "firing": monitor["firing"],
            "created_at": timestamp(monitor["created_at"])}


def platform_audit(report, each):
    """The platform operator's audit: every tenant's books added up, and each tenant's verdict."""
    return dict(audit(report), tenants=[
        {"tenant_id": tenant_id, "ok": one.ok, "accounts_sum": format_cents(one.accounts_sum_cents),
         "violation_count": one.violation_count} for tenant_id, one in each])
