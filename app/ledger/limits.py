"""Wallet limits: the rules, and the daily usage they count, in the unit that moves the money.

A wallet's limits live on the wallet document (``limits``: ``max_balance_cents``,
``per_transfer_max_cents``, ``daily_out_amount_cents``, ``daily_out_count``; an absent
key is no limit). A new wallet starts with DEFAULT_LIMITS; PUT /wallets/{id}/limits
overrides them. ``postings.post`` enforces them on every client-wallet posting:

- ``per_transfer_max`` and ``max_balance`` are clauses of the wallet's own update filter
  (``debit_guard``, ``credit_guard``), so they hold in the same atomic write as the money.
- the daily out limits count in a usage document per (wallet, UTC day), written by the
  same unit with its guard in the ``$inc``'s filter (``charge_out``). On MongoDB two units
  debiting one wallet both write that document, so snapshot isolation cannot let both
  pass: one aborts with a write conflict and is retried. A wallet with no daily limit
  has no usage document written: no extra write on that path.
"""
from datetime import datetime, time, timedelta


from app import errors
from app.ledger import admin_log, units
from app.money import format_cents, parse_cents

AMOUNT_LIMITS = ("max_balance", "per_transfer_max", "daily_out_amount")
COUNT_LIMITS = ("daily_out_count",)
NAMES = AMOUNT_LIMITS + COUNT_LIMITS
# Usage documents expire (a TTL index) this long after their day began; a hold voided
# later than that gives nothing back, as it counts for no day still enforced.
USAGE_KEPT = timedelta(days=35)


def stored_field(name):
    return name if name in COUNT_LIMITS else f"{name}_cents"


def parse(document):
    """API form {"max_balance": "10.00" | None, "daily_out_count": 3, ...} -> stored field -> value."""
    changes = {}
    for name, value in document.items():
        if name not in NAMES:
            raise ValueError(f"{name!r} is not a limit; limits are {', '.join(NAMES)}")
        if value is not None and name in COUNT_LIMITS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0 or null, not {value!r}")
        elif value is not None:
            value = parse_cents(value)
        changes[stored_field(name)] = value
    return changes


def defaults(document):
    """The stored limits for new wallets from DEFAULT_LIMITS (API form); ValueError if bad."""
    return {field: value for field, value in parse(document).items() if value is not None}


def effective(wallet):
    """name -> cents (a count for daily_out_count) or None: the limits of a wallet document."""
    own = wallet.get("limits") or {}
    return {name: own.get(stored_field(name)) for name in NAMES}


def debit_guard(amount_cents):
    """The update-filter clause for a debit of ``amount_cents``: per_transfer_max allows it."""
    field = "limits.per_transfer_max_cents"
    return {"$or": [{field: {"$exists": False}}, {field: {"$gte": amount_cents}}]}


def credit_guard(amount_cents):
    """The update-filter clause for a credit: the balance after it stays within max_balance."""
    field = "limits.max_balance_cents"
    return {"$or": [{field: {"$exists": False}}, {"$expr": {
        "$lte": [{"$add": ["$balance_cents", amount_cents]}, "$" + field]}}]}


def refusal(wallet, amount_cents):
    """The LimitExceeded a posting of ``amount_cents`` (signed) on ``wallet`` broke, or None."""
    limits = effective(wallet)
    largest = limits["per_transfer_max"]
    if amount_cents < 0 and largest is not None and -amount_cents > largest:
        return errors.LimitExceeded(
            f"{format_cents(-amount_cents)} is more than the wallet's per_transfer_max",
            "per_transfer_max", format_cents(largest))
    ceiling = limits["max_balance"]
    if amount_cents > 0 and ceiling is not None and wallet["balance_cents"] + amount_cents > ceiling:
        return errors.LimitExceeded(
            "the credit would take the wallet's balance past its max_balance", "max_balance",
            format_cents(max(0, ceiling - wallet["balance_cents"])))
    return None


def day_of(moment):
    return moment.date().isoformat()


def resets_at(moment):
    return datetime.combine(moment.date() + timedelta(days=1), time())


def usage_id(wallet_id, day):
    return f"{wallet_id}:{day}"


def charge_out(tx, wallet, amount_cents, moment, count=1):
    """Count a debit (or a hold placed) against the wallet's daily out limits; return its day.

    ``count`` debits of ``amount_cents`` in all (a batch's debits of one wallet at once).
    ``wallet`` is the document as the unit just wrote it. LimitExceeded if the day's
    amount or count would pass a limit. None (and no write) when the wallet has no daily limit.
    """
    limits = effective(wallet)
    if limits["daily_out_amount"] is None and limits["daily_out_count"] is None:
        return None
    day = day_of(moment)
    key = {"_id": usage_id(wallet["_id"], day)}
    guard = dict(key)
    if limits["daily_out_amount"] is not None:
        guard["out_amount_cents"] = {"$lte": limits["daily_out_amount"] - amount_cents}
    if limits["daily_out_count"] is not None:
        guard["out_count"] = {"$lte": limits["daily_out_count"] - count}
    charge = {"$inc": {"out_amount_cents": amount_cents, "out_count": count}}
    if tx.limit_usage.find_one_and_update(guard, charge) is not None:
        return day
    usage = tx.limit_usage.find_one(key)
    if usage is None:
        # The day's first debit: create the document, then the same guarded $inc. Never one
        # guarded upsert: a refused guard would insert a second document with this _id
        # (DuplicateKeyError, not a refusal). Two first-of-the-day writers may collide on
        # this insert; units.run runs the loser's unit again, and it finds the document.
        tx.limit_usage.find_one_and_update(key, {"$setOnInsert": {
            "wallet_id": wallet["_id"], "day": day, "out_amount_cents": 0, "out_count": 0,
            "expires_at": datetime.combine(moment.date(), time()) + USAGE_KEPT}}, upsert=True)
        if tx.limit_usage.find_one_and_update(guard, charge) is not None:
            return day
        usage = tx.limit_usage.find_one(key)
    raise _daily_refusal(limits, usage, amount_cents)


def _daily_refusal(limits, usage, amount_cents):
    left = remaining(limits, usage, balance_cents=0)
    if left["daily_out_amount"] is not None and left["daily_out_amount"] < amount_cents:
        return errors.LimitExceeded("the wallet's daily_out_amount would be passed today",
                                    "daily_out_amount", format_cents(left["daily_out_amount"]))
    return errors.LimitExceeded("the wallet's daily_out_count would be passed today",
                                "daily_out_count", left["daily_out_count"])


def give_back(tx, wallet_id, amount_cents, day, count=1):
    """Undo ``charge_out`` of ``day`` (a hold voided or expired: its amount and ``count`` 1; the
    uncaptured rest of a partly captured hold: that amount, ``count`` 0). Nothing if ``day``
    is None (not counted) or no longer kept."""
    if day is None or amount_cents <= 0:
        return
    tx.limit_usage.find_one_and_update(
        {"_id": usage_id(wallet_id, day), "out_amount_cents": {"$gte": amount_cents},
         "out_count": {"$gte": count}},
        {"$inc": {"out_amount_cents": -amount_cents, "out_count": -count}})


def remaining(limits, usage, balance_cents):
    """name -> what is left of each limit (None: no limit), never below 0."""
    usage = usage or {"out_amount_cents": 0, "out_count": 0}
    used = {"max_balance": balance_cents, "per_transfer_max": 0,
            "daily_out_amount": usage["out_amount_cents"], "daily_out_count": usage["out_count"]}
    return {name: None if limits[name] is None else max(0, limits[name] - used[name])
            for name in NAMES}


def status(store, wallet_id):
    """The wallet's limits, today's usage and what is left: the body of GET .../limits (in cents)."""
    moment = units.now()
    day = day_of(moment)

    def read(db):
        wallet = db.wallets.find_one({"_id": wallet_id}, {"limits": 1, "balance_cents": 1})
        return wallet, db.limit_usage.find_one({"_id": usage_id(wallet_id, day)})

    wallet, usage = store.read(read)
    limits = effective(wallet)
    return {"limits": limits, "day": day, "resets_at": resets_at(moment),
            "out_amount_cents": (usage or {}).get("out_amount_cents", 0),
            "out_count": (usage or {}).get("out_count", 0),
            "remaining": remaining(limits, usage, wallet["balance_cents"])}


def set_limits(store, wallet_id, changes):
    """Set (a value) or remove (None) the given stored limits of a wallet; WalletNotFound if none."""
    moment = units.now()
    update = {"$set": {"limits_updated_at": moment}}
    removed = {f"limits.{field}": "" for field, value in changes.items() if value is None}
    update["$set"].update({f"limits.{field}": value for field, value in changes.items()
                           if value is not None})
    if removed:
        update["$unset"] = removed

    def work(tx):
        before = tx.wallets.find_one_and_update({"_id": wallet_id}, update)
        if before is None:
            raise errors.WalletNotFound(f"no wallet {wallet_id}")
        # What the update stored, without reading it again: the limits before, changed as above.
        after = {field: value for field, value in dict(before.get("limits") or {}, **changes).items()
                 if value is not None}
        admin_log.append(tx, "limits.changed", {"type": "wallet", "id": wallet_id},
                         before=before.get("limits") or {}, after=after)
        return dict(before, limits=after, limits_updated_at=moment)

    return store.transaction(work)
