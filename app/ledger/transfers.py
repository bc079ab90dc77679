"""Deposits (bank -> wallet) and transfers (wallet -> wallet), each one posted transfer."""
from pymongo import DESCENDING

from app import errors, render
from app.ledger import accounts, admin_log, events, expiry
from app.ledger.entry_types import LEGS_OF
from app.ledger.invariants import amount_in_range
from app.ledger.metadata import terms as metadata_terms
from app.ledger.postings import Posting, post, post_many
from app.ledger import units
from app.ledger.units import new_id, run, success
from app.money import MAX_AMOUNT_CENTS


def deposit(store, wallet_id, amount_cents, details=None, idem=None):
    """Credit a wallet from the bank system account; returns (journal entry, replayed)."""
    amount_in_range(amount_cents, MAX_AMOUNT_CENTS)

    def work(tx):
        # No read of the wallet first: its credit finds it, and names its owner on the record.
        record = {"_id": new_id("tr"), "type": "deposit", "from_wallet_id": None,
                  "to_wallet_id": wallet_id, "from_client_id": None, "to_client_id": None,
                  "amount_cents": amount_cents, "details": details, "metadata": []}
        moment = units.now()
        try:
            posted = post(tx, record, [
                Posting(accounts.system_shard(tx, "bank"), -amount_cents),
                Posting(wallet_id, amount_cents, "deposit")], moment)
        except errors.ReceiverNotFound:
            raise errors.WalletNotFound(f"no wallet {wallet_id}") from None
        entry = posted.entries[wallet_id]
        events.emit(tx, "deposit.posted", [wallet_id], render.deposit(entry), moment)
        admin_log.append(tx, "deposit.created", {"type": "wallet", "id": wallet_id},
                         after={"transfer_id": record["_id"], "amount_cents": amount_cents})
        return success(entry)

    return run(store, idem, work)


def transfer(store, client_id, from_wallet_id, to_wallet_id, amount_cents, details=None, idem=None,
             metadata=None):
    """Move money from the client's wallet to another; returns (transfer, replayed)."""
    amount_in_range(amount_cents, MAX_AMOUNT_CENTS)
    return run(store, idem, lambda tx: success(
        pay(tx, client_id, from_wallet_id, to_wallet_id, amount_cents, details, units.now(),
            metadata=metadata)))


def pay(tx, client_id, from_wallet_id, to_wallet_id, amount_cents, details, moment, links=None,
        metadata=None, transfer_id=None, also=()):
    """Inside a unit: the client's wallet pays another (POST /transfers, an approved request).

    No read comes first: the ownership of the sender is a clause of its debit's filter, and
    the receiver's credit finds it. Only a refused debit reads, to say why (WalletNotFound,
    ReceiverNotFound, then WalletFrozen, WalletClosed, InsufficientFunds or LimitExceeded, in
    that order). ``links``: what caused it (``{"payment_request_id": ...}``), ``metadata``:
    the caller's {key: value}. ``transfer_id``: the record's id, if the caller named it already;
    ``also``: more events of the unit (each made by a call), inserted with the transfer's.
    """
    if from_wallet_id == to_wallet_id:
        raise errors.AccountsMustBeDifferent("from_wallet_id and to_wallet_id are the same wallet")
    record = _record(from_wallet_id, to_wallet_id, amount_cents, details, links=links, metadata=metadata)
    if transfer_id is not None:
        record["_id"] = transfer_id
    try:
        return post_between(tx, record, moment, owner=client_id, also=also)
    except (errors.WalletFrozen, errors.WalletClosed, errors.InsufficientFunds, errors.LimitExceeded):
        if tx.wallets.find_one({"_id": to_wallet_id}, {"_id": 1}) is None:
            raise errors.ReceiverNotFound(f"no wallet {to_wallet_id}") from None
        raise


def _record(from_wallet_id, to_wallet_id, amount_cents, details, owners=None, links=None, metadata=None):
    """A transfer record before it is posted (``post`` names both owners from their wallets)."""
    owners = owners or {}
    record = {"_id": new_id("tr"), "type": "transfer", "from_wallet_id": from_wallet_id,
              "to_wallet_id": to_wallet_id, "from_client_id": owners.get(from_wallet_id),
              "to_client_id": owners.get(to_wallet_id), "amount_cents": amount_cents,
              "details": details, "refunded_cents": 0, "refunds": [],
              "metadata": metadata_terms(metadata)}
    if links:
        record["links"] = dict(links)
    return record


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
    check_parties(owners, from_wallet_id, to_wallet_id, amount_cents)
    return post_between(tx, _record(from_wallet_id, to_wallet_id, amount_cents, details, owners,
                                    links, metadata), moment)


def check_parties(owners, from_wallet_id, to_wallet_id, amount_cents):
    """The refusals of a transfer that need no write: AccountsMustBeDifferent, ReceiverNotFound."""
    amount_in_range(amount_cents, MAX_AMOUNT_CENTS)
    if from_wallet_id == to_wallet_id:
        raise errors.AccountsMustBeDifferent("from_wallet_id and to_wallet_id are the same wallet")
    if to_wallet_id not in owners:
        raise errors.ReceiverNotFound(f"no wallet {to_wallet_id}")


def post_transfers(tx, owners, items, moment, links=None):
    """Transfers that passed ``check_parties`` (dicts of from_wallet_id, to_wallet_id,
    amount_cents, details, metadata), posted at once (``postings.post_many``): one write per
    wallet and per collection, each record with ``links`` (``{"batch_id": ...}``). Each as
    stored, in order; TotalRefused when they cannot all be posted."""
    records = [_record(item["from_wallet_id"], item["to_wallet_id"], item["amount_cents"],
                       item.get("details"), owners, links, item.get("metadata")) for item in items]
    posted = post_many(tx, [(record, _postings(record)) for record in records], moment)
    tx.events.insert_many([
        events.new_event("transfer.posted", [p.transfer["from_wallet_id"], p.transfer["to_wallet_id"]],
                         render.transfer(p.transfer), moment) for p in posted])
    return [p.transfer for p in posted]


def _postings(record, owner=None):
    """The two postings of a wallet-to-wallet record (a transfer or a refund)."""
    debit_type, credit_type = LEGS_OF[record["type"]]
    sender, receiver, amount = record["from_wallet_id"], record["to_wallet_id"], record["amount_cents"]
    return [Posting(sender, -amount, debit_type, receiver, owner),
            Posting(receiver, amount, credit_type, sender)]


def post_between(tx, record, moment, owner=None, also=()):
    """Post a wallet-to-wallet record (a transfer or a refund) and its event; return it as stored.

    ``owner``: the client the sender must belong to, checked in its debit's filter. ``also``:
    calls that make more events of the unit, inserted after this one in the same insert."""
    posted = post(tx, record, _postings(record, owner), moment)
    events.emit(tx, f"{record['type']}.posted", [record["from_wallet_id"], record["to_wallet_id"]],
                render.transfer(posted.transfer), moment, also=also)
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
