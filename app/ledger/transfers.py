"""Deposits (bank -> wallet) and transfers (wallet -> wallet), each one posted transfer."""
from pymongo import DESCENDING

from app import errors, render
from app.ledger import accounts, events, expiry
from app.ledger.entry_types import LEGS_OF
from app.ledger.metadata import terms as metadata_terms
from app.ledger.postings import Posting, post
from app.ledger import units
from app.ledger.units import new_id, run, success
from app.money import MAX_AMOUNT_CENTS


def deposit(store, wallet_id, amount_cents, details=None, idem=None):
    """Credit a wallet from the bank system account; returns (journal entry, replayed)."""
    assert 0 < amount_cents <= MAX_AMOUNT_CENTS, amount_cents

    def work(tx):
        wallet = tx.wallets.find_one({"_id": wallet_id}, {"client_id": 1})
        if wallet is None:
            raise errors.WalletNotFound(f"no wallet {wallet_id}")
        record = {"_id": new_id("tr"), "type": "deposit", "from_wallet_id": None,
                  "to_wallet_id": wallet_id, "from_client_id": None,
                  "to_client_id": wallet["client_id"], "amount_cents": amount_cents,
                  "details": details, "metadata": []}
        moment = units.now()
        posted = post(tx, record, [
            Posting(accounts.system_shard("bank"), -amount_cents),
            Posting(wallet_id, amount_cents, "deposit")], moment)
        entry = posted.entries[wallet_id]
        events.emit(tx, "deposit.posted", [wallet_id], render.deposit(entry), moment)
        return success(entry)

    return run(store, idem, work)


def transfer(store, client_id, from_wallet_id, to_wallet_id, amount_cents, details=None, idem=None,
             metadata=None):
    """Move money from the client's wallet to another; returns (transfer, replayed)."""
    assert 0 < amount_cents <= MAX_AMOUNT_CENTS, amount_cents
    return run(store, idem, lambda tx: success(
        pay(tx, client_id, from_wallet_id, to_wallet_id, amount_cents, details, units.now(),
            metadata=metadata)))


def pay(tx, client_id, from_wallet_id, to_wallet_id, amount_cents, details, moment, links=None,
        metadata=None):
    """Inside a unit: the client's wallet pays another (POST /transfers, an approved request)."""
    # Inside the unit, after the key's lookup: a reused key is reported as reused.
    if from_wallet_id == to_wallet_id:
        raise errors.AccountsMustBeDifferent("from_wallet_id and to_wallet_id are the same wallet")
    owners = wallet_owners(tx, [from_wallet_id, to_wallet_id])
    if owners.get(from_wallet_id) != client_id:
        raise errors.WalletNotFound(f"you have no wallet {from_wallet_id}")
    return post_transfer(tx, owners, from_wallet_id, to_wallet_id, amount_cents, details, moment,
                         links, metadata)


def wallet_owners(tx, wallet_ids):
    """Wallet id -> client id for those that exist: owners never change, so one read settles it."""
    return {w["_id"]: w["client_id"] for w in tx.wallets.find(
        {"_id": {"$in": list(set(wallet_ids))}}, {"client_id": 1})}


def post_transfer(tx, owners, from_wallet_id, to_wallet_id, amount_cents, details, moment,
                  links=None, metadata=None):
    """One transfer inside the caller's unit, the sender already known to be the caller's.

    ``owners`` comes from ``wallet_owners``. Raises AccountsMustBeDifferent and
    ReceiverNotFound before any write, InsufficientFunds (or any refusal of ``post``)
    from the posting itself. Shared by single transfers and batches. ``links``: what caused it
    (``{"batch_id": ...}``), ``metadata``: the caller's {key: value}.
    """
    assert 0 < amount_cents <= MAX_AMOUNT_CENTS, amount_cents
    if from_wallet_id == to_wallet_id:
        raise errors.AccountsMustBeDifferent("from_wallet_id and to_wallet_id are the same wallet")
    if to_wallet_id not in owners:
        raise errors.ReceiverNotFound(f"no wallet {to_wallet_id}")
    record = {"_id": new_id("tr"), "type": "transfer", "from_wallet_id": from_wallet_id,
              "to_wallet_id": to_wallet_id, "from_client_id": owners[from_wallet_id],
              "to_client_id": owners[to_wallet_id], "amount_cents": amount_cents,
              "details": details, "refunded_cents": 0, "refunds": [],
              "metadata": metadata_terms(metadata)}
    if links:
        record["links"] = dict(links)
    return post_between(tx, record, moment)


def post_between(tx, record, moment):
    """Post a wallet-to-wallet record (a transfer or a refund) and its event; return it as stored."""
    debit_type, credit_type = LEGS_OF[record["type"]]
    sender, receiver, amount = record["from_wallet_id"], record["to_wallet_id"], record["amount_cents"]
    posted = post(tx, record, [Posting(sender, -amount, debit_type, receiver),
                               Posting(receiver, amount, credit_type, sender)], moment)
    events.emit(tx, f"{record['type']}.posted", [sender, receiver], render.transfer(posted.transfer),
                moment)
    return posted.transfer


def get_transfer(store, transfer_id):
    return store.read(lambda db: db.transfers.find_one({"_id": transfer_id}))


def get_wallet(store, wallet_id):
    """The wallet as it reads now: the money of holds past their expiry is available."""
    moment = units.now()
    return store.read(lambda db: expiry.wallet_as_of(
        db, db.wallets.find_one({"_id": wallet_id}), moment))


def get_client_wallet(store, client_id):
    moment = units.now()
    return store.read(lambda db: expiry.wallet_as_of(
        db, db.wallets.find_one({"client_id": client_id}), moment))


def system_accounts(store):
    return store.read(accounts.system_balances)


def list_operations(store, wallet_id, limit, before_seq=None):
    """Newest first: up to ``limit`` entries with seq < before_seq, and whether more exist."""
    query = {"wallet_id": wallet_id}
    if before_seq is not None:
        query["seq"] = {"$lt": before_seq}
    page = store.read(lambda db: with_transfer_metadata(db, list(
        db.operations.find(query).sort("seq", DESCENDING).limit(limit + 1))))
    return page[:limit], len(page) > limit


def with_transfer_metadata(db, entries):
    """``entries``, each with its transfer's metadata as ``transfer_metadata`` (one read by _id).

    Metadata is written once, on the transfer, where ``PATCH`` changes it; an entry is never
    rewritten, so the journal shows it as it reads now."""
    found = {doc["_id"]: doc.get("metadata") for doc in db.transfers.find(
        {"_id": {"$in": list({entry["transfer_id"] for entry in entries})}}, {"metadata": 1})}
    return [dict(entry, transfer_metadata=found.get(entry["transfer_id"])) for entry in entries]
