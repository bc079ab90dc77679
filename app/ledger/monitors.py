"""Balance monitors: tell me once when a wallet's balance (or available money) crosses a line.

A monitor is ``{field, condition, amount}`` (e.g. available lt 100.00), kept on the wallet
document itself (``monitors``, at most MAX_PER_WALLET), with ``firing``: whether its condition
held after the last movement. ``check`` runs in the unit of every movement, on the wallet as
that unit wrote it: a monitor whose condition turns true emits one ``balance_monitor.triggered``
event; it fires again only after its condition has been false in between (edge-triggered).
The state lives on the document the movement writes, so two movements never both decide on a
state the other changes (no write skew), and a wallet without monitors costs nothing more.
"""
import operator

from pymongo import ReturnDocument

from app import errors, render
from app.ledger import events
from app.ledger.units import new_id, now

MAX_PER_WALLET = 10
FIELDS = {"balance": "balance_cents", "available": "available_cents"}
CONDITIONS = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}


def holds(monitor, wallet):
    """Whether ``monitor``'s condition is true of ``wallet`` as it stands."""
    return CONDITIONS[monitor["condition"]](wallet[FIELDS[monitor["field"]]], monitor["amount_cents"])


def check(tx, wallet, moment):
    """After a movement wrote ``wallet`` (as it is now) in the unit ``tx``: fire the monitors whose
    condition just turned true, re-arm those whose condition turned false."""
    monitors = wallet.get("monitors")
    if not monitors:
        return
    now_true = [holds(monitor, wallet) for monitor in monitors]
    if now_true == [monitor["firing"] for monitor in monitors]:
        return
    changed = [dict(monitor, firing=true) for monitor, true in zip(monitors, now_true)]
    # The unit already wrote this wallet: no other unit can change it before this one ends.
    tx.wallets.find_one_and_update({"_id": wallet["_id"]}, {"$set": {"monitors": changed}})
    for before, after in zip(monitors, changed):
        if after["firing"] and not before["firing"]:
            events.emit(tx, "balance_monitor.triggered", [wallet["_id"]], {
                "monitor": render.balance_monitor(after, wallet["_id"]), "wallet_id": wallet["_id"],
                "field": after["field"], "amount_after": render.format_cents(wallet[FIELDS[after["field"]]])},
                moment)


def _owned(wallet_id, client_id):
    """The wallet's filter: any of the tenant's for the operator (``client_id`` None), else its owner's."""
    return {"_id": wallet_id} if client_id is None else {"_id": wallet_id, "client_id": client_id}


def create(store, wallet_id, client_id, field, condition, amount_cents, description):
    """Add a monitor to the wallet (its owner's, when ``client_id`` is given); it starts firing
    if its condition already holds, so it speaks only when a movement makes it true."""
    def work(tx):
        owned = _owned(wallet_id, client_id)
        wallet = tx.wallets.find_one(owned)
        if wallet is None:
            raise errors.WalletNotFound(f"no wallet {wallet_id}")
        monitor = {"id": new_id("bm"), "field": field, "condition": condition, "amount_cents": amount_cents,
                   "description": description, "created_at": now()}
        monitor["firing"] = holds(monitor, wallet)
        added = tx.wallets.find_one_and_update(
            dict(owned, **{f"monitors.{MAX_PER_WALLET - 1}": {"$exists": False}}),
            {"$push": {"monitors": monitor}}, return_document=ReturnDocument.AFTER)
        if added is None:
            raise errors.ServiceLimitReached(f"wallet {wallet_id} has {MAX_PER_WALLET} balance monitors",
                                             limit="max_balance_monitors_per_wallet")
        return monitor
    return store.transaction(work)


def list_monitors(store, wallet_id, client_id):
    wallet = store.read(lambda db: db.wallets.find_one(_owned(wallet_id, client_id), {"monitors": 1}))
    if wallet is None:
        raise errors.WalletNotFound(f"no wallet {wallet_id}")
    return wallet.get("monitors", [])


def get(store, wallet_id, client_id, monitor_id):
    found = [m for m in list_monitors(store, wallet_id, client_id) if m["id"] == monitor_id]
    if not found:
        raise errors.BalanceMonitorNotFound(f"no balance monitor {monitor_id} on wallet {wallet_id}")
    return found[0]


def delete(store, wallet_id, client_id, monitor_id):
    """Remove the monitor (one caller wins; the other gets 404)."""
    def work(tx):
        owned = _owned(wallet_id, client_id)
        before = tx.wallets.find_one_and_update(dict(owned, **{"monitors.id": monitor_id}),
                                                {"$pull": {"monitors": {"id": monitor_id}}})
        if before is None:
            raise errors.BalanceMonitorNotFound(f"no balance monitor {monitor_id} on wallet {wallet_id}")
        return next(m for m in before["monitors"] if m["id"] == monitor_id)
    return store.transaction(work)
