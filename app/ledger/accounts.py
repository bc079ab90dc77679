"""Accounts: client wallets and the system accounts, in one model.

Every account has ``balance_cents`` (posted), ``held_cents`` (reserved by pending
holds) and ``available_cents`` = balance - held. Available is stored, not computed,
so the guard on a debit is a plain comparison in the update filter
(``available_cents >= amount``) that both engines evaluate the same way and an
index could serve; the audit proves available = balance - held for every wallet.

System accounts (``bank``: money enters; ``payouts``: money leaves) may go negative
and are never guarded. Each is kept as SHARDS documents and a posting picks one at
random, so no single document is written by every deposit: on MongoDB two
transactions writing one document abort each other (WriteConflict), and a single
bank document would serialise every deposit in the cluster. Its balance is the sum
of its shards. Each tenant has its own: the default tenant's shards are ``sys_bank_00``...,
another's ``sys_bank_00@ten_...`` (ids are unique across the collection).
"""
import random

from app.ledger.invariants import (ArgumentOutOfRange, HeldUnderflow, SystemAccountMissing,
                                   UnknownSystemAccount, require)
from app.ledger import monitors
from app.ledger.units import new_id, now
from app.storage.tenancy import DEFAULT_TENANT

SYSTEM_ACCOUNTS = ("bank", "payouts")
SHARDS = 16
SYSTEM_PREFIX = "sys_"
CURRENCY = "USD"


def is_system(account_id):
    return account_id.startswith(SYSTEM_PREFIX)


def _shard_id(name, shard, tenant_id):
    suffix = "" if tenant_id == DEFAULT_TENANT else f"@{tenant_id}"
    return f"{SYSTEM_PREFIX}{name}_{shard:02d}{suffix}"


def shard_ids(name, tenant_id=DEFAULT_TENANT):
    return [_shard_id(name, shard, tenant_id) for shard in range(SHARDS)]


def system_shard(tx, name):
    """One of the unit's tenant's shards of the account, at random: concurrent postings rarely
    meet on one document."""
    require(name in SYSTEM_ACCOUNTS, UnknownSystemAccount, f"{name!r} is not in SYSTEM_ACCOUNTS")
    return _shard_id(name, random.randrange(SHARDS), tx.tenant_id)


def new_system_shards(tenant_id, moment):
    """A new tenant's system account shards, every balance zero."""
    return [{"_id": shard_id, "kind": "system", "name": name, "currency": CURRENCY, "balance_cents": 0,
             "held_cents": 0, "created_at": moment, "updated_at": moment}
            for name in SYSTEM_ACCOUNTS for shard_id in shard_ids(name, tenant_id)]


def move_system(tx, shard_id, amount_cents, moment):
    shard = tx.system_accounts.find_one_and_update(
        {"_id": shard_id}, {"$inc": {"balance_cents": amount_cents}, "$set": {"updated_at": moment}})
    require(shard is not None, SystemAccountMissing, f"{shard_id} (run `flask --app app db init`)")


def ensure_system_accounts(collection):
    """Create the default tenant's system account shards if missing (idempotent), then check
    every one (another tenant's are made with the tenant)."""
    moment = now()
    for name in SYSTEM_ACCOUNTS:
        for shard_id in shard_ids(name):
            collection.update_one({"_id": shard_id}, {"$setOnInsert": {
                "tenant_id": DEFAULT_TENANT, "kind": "system", "name": name, "currency": CURRENCY,
                "balance_cents": 0,
                "held_cents": 0, "created_at": moment, "updated_at": moment}}, upsert=True)
    check_system_accounts(collection)


def check_system_accounts(collection):
    """Raise RuntimeError naming every missing or corrupt system account shard."""
    expected = {shard_id: name for name in SYSTEM_ACCOUNTS for shard_id in shard_ids(name)}
    found = {doc["_id"]: doc for doc in collection.find({"_id": {"$in": list(expected)}})}
    problems = []
    for shard_id, name in expected.items():
        doc = found.get(shard_id)
        if doc is None:
            problems.append(f"{shard_id} is missing")
        elif (doc.get("kind"), doc.get("name"), doc.get("currency")) != ("system", name, CURRENCY):
            problems.append(f"{shard_id} is corrupt: kind {doc.get('kind')!r}, name "
                            f"{doc.get('name')!r}, currency {doc.get('currency')!r}; expected "
                            f"'system', {name!r}, {CURRENCY!r}")
        elif not isinstance(doc.get("balance_cents"), int) or isinstance(doc["balance_cents"], bool):
            problems.append(f"{shard_id} is corrupt: balance_cents {doc.get('balance_cents')!r}")
    if problems:
        raise RuntimeError("system accounts are not as this version needs them: "
                           + "; ".join(problems) + ". Restore them from a backup, or run "
                           "`flask --app app db init` on a database that has none.")


def system_balances(db):
    """[{id, name, currency, balance_cents, updated_at}], one per system account, shards summed."""
    totals = {}
    for shard in db.system_accounts.find({"kind": "system"}):
        total = totals.setdefault(shard["name"], {
            "id": f"{SYSTEM_PREFIX}{shard['name']}", "name": shard["name"],
            "currency": shard["currency"], "balance_cents": 0, "updated_at": shard["updated_at"]})
        total["balance_cents"] += shard["balance_cents"]
        total["updated_at"] = max(total["updated_at"], shard["updated_at"])
    return [totals[name] for name in SYSTEM_ACCOUNTS if name in totals]


def new_wallet(client_id, moment, limits=None):
    """An empty wallet; ``limits`` (stored form, app/ledger/limits.py) only when it has some."""
    wallet = {"_id": new_id("wal"), "client_id": client_id, "currency": CURRENCY, "kind": "wallet",
              "balance_cents": 0, "held_cents": 0, "available_cents": 0, "version": 0,
              "created_at": moment, "updated_at": moment}
    if limits:
        wallet["limits"] = dict(limits)
    return wallet


def reserve(tx, wallet_id, amount_cents, moment, guard=None):
    """Move ``amount_cents`` of a wallet's available money to held; None if available is short
    (or ``guard``, more clauses of the filter, does not hold).

    The guard is in the filter, so two reservations can never both spend the same money.
    """
    require(amount_cents > 0, ArgumentOutOfRange, f"{amount_cents} cents is not above zero")
    before = tx.wallets.find_one_and_update(
        dict({"_id": wallet_id, "available_cents": {"$gte": amount_cents},
              # no reservation on a frozen or closed wallet (app/ledger/states.py)
              "status": {"$nin": ["frozen", "closed"]}}, **(guard or {})),
        {"$inc": {"held_cents": amount_cents, "available_cents": -amount_cents},
         "$set": {"updated_at": moment}})
    if before is not None:
        _check_monitors(tx, before, -amount_cents, moment)
    return before


def release(tx, wallet_id, amount_cents, moment):
    """Give ``amount_cents`` of held money back to available (a void, an expiry, a capture)."""
    require(amount_cents > 0, ArgumentOutOfRange, f"{amount_cents} cents is not above zero")
    wallet = tx.wallets.find_one_and_update(
        {"_id": wallet_id, "held_cents": {"$gte": amount_cents}},
        {"$inc": {"held_cents": -amount_cents, "available_cents": amount_cents},
         "$set": {"updated_at": moment}})
    require(wallet is not None, HeldUnderflow, f"wallet {wallet_id} holds less than {amount_cents} cents")
    _check_monitors(tx, wallet, amount_cents, moment)
    return wallet


def _check_monitors(tx, before, available_change, moment):
    """A reservation or a release moved available money: the wallet's monitors see it as it is now."""
    if before.get("monitors"):
        monitors.check(tx, dict(before, available_cents=before["available_cents"] + available_change,
                                held_cents=before["held_cents"] - available_change), moment)
