"""The money rules: sign-up, deposits, transfers and the journal.

Every balance change is a conditional ``$inc`` in the same unit of work that
appends the journal entries; the guard (``balance_cents >= amount``) lives in
the update filter, never in a Python comparison. The journal is append-only:
each entry carries the wallet's ``seq`` (1, 2, 3 ...) and ``balance_after``.
"""
import secrets
from datetime import datetime, timezone

from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app import errors, idempotency
from app.money import MAX_AMOUNT_CENTS

AFTER = ReturnDocument.AFTER


def new_id(prefix):
    """96 random bits: an id cannot be guessed from another (an ObjectId's counter can)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def now():
    """UTC now at millisecond precision, naive, as both engines store it."""
    moment = datetime.now(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _refusal(error_class, detail):
    return {"status": error_class.status, "error": error_class.code, "detail": detail}


def _success(result):
    return {"status": 201, "result": result}


def _run(store, idem, work):
    """Run ``work(tx) -> outcome`` once per idempotency key; return (result, replayed)."""
    def unit(tx):
        if idem is not None:
            recorded = idempotency.lookup(tx, idem)
            if recorded is not None:
                return recorded, True
        outcome = work(tx)
        if idem is not None:
            idempotency.record(tx, idem, outcome)
        return outcome, False

    try:
        outcome, replayed = store.transaction(unit)
    except DuplicateKeyError:
        if idem is None:
            raise
        # A concurrent request with the same key committed first: replay its outcome.
        outcome, replayed = store.transaction(unit)
    if "error" in outcome:
        error = errors.REPLAYED_REFUSALS[outcome["error"]](outcome["detail"])
        error.replayed = replayed
        raise error
    return outcome["result"], replayed


def _entry(wallet, kind, amount_cents, moment, details, transfer_id=None, counterparty=None):
    """The journal entry for a wallet document just updated by ``$inc``."""
    return {
        "_id": new_id("op"), "wallet_id": wallet["_id"], "seq": wallet["version"],
        "type": kind, "amount_cents": amount_cents, "balance_after_cents": wallet["balance_cents"],
        "counterparty_wallet_id": counterparty, "transfer_id": transfer_id,
        "details": details, "created_at": moment,
    }


def _move(tx, wallet_filter, delta_cents, moment):
    return tx.wallets.find_one_and_update(
        wallet_filter,
        {"$inc": {"balance_cents": delta_cents, "version": 1}, "$set": {"updated_at": moment}},
        return_document=AFTER)


def create_client(store, email, name, password_hash, idem=None):
    """A new client with its empty USD wallet; returns ({client, wallet}, replayed)."""
    def work(tx):
        moment = now()
        email_key = email.lower()
        if tx.clients.find_one({"email_key": email_key}, {"_id": 1}) is not None:
            raise errors.EmailTaken(f"{email} is already registered")
        client = {"_id": new_id("cli"), "email": email, "email_key": email_key, "name": name,
                  "created_at": moment}
        wallet = {"_id": new_id("wal"), "client_id": client["_id"], "currency": "USD",
                  "balance_cents": 0, "version": 0, "created_at": moment, "updated_at": moment}
        tx.clients.insert_one(dict(client, password_hash=password_hash))
        tx.wallets.insert_one(wallet)
        return _success({"client": client, "wallet": wallet})

    try:
        return _run(store, idem, work)
    except DuplicateKeyError:
        raise errors.EmailTaken(f"{email} is already registered") from None


def deposit(store, wallet_id, amount_cents, details=None, idem=None):
    """Credit a wallet from outside the system; returns (journal entry, replayed)."""
    assert 0 < amount_cents <= MAX_AMOUNT_CENTS, amount_cents

    def work(tx):
        moment = now()
        wallet = _move(tx, {"_id": wallet_id}, amount_cents, moment)
        if wallet is None:
            raise errors.WalletNotFound(f"no wallet {wallet_id}")
        entry = _entry(wallet, "deposit", amount_cents, moment, details)
        tx.operations.insert_one(entry)
        return _success(entry)

    return _run(store, idem, work)


def transfer(store, client_id, from_wallet_id, to_wallet_id, amount_cents, details=None, idem=None):
    """Move money from the client's wallet to another; returns (transfer, replayed)."""
    assert 0 < amount_cents <= MAX_AMOUNT_CENTS, amount_cents

    def work(tx):
        # Inside the unit, after the key's lookup: a reused key is reported as reused.
        if from_wallet_id == to_wallet_id:
            raise errors.AccountsMustBeDifferent("from_wallet_id and to_wallet_id are the same wallet")
        moment = now()
        # Owners and existence never change, so one read settles both before any write.
        owners = {w["_id"]: w["client_id"] for w in tx.wallets.find(
            {"_id": {"$in": [from_wallet_id, to_wallet_id]}}, {"client_id": 1})}
        if owners.get(from_wallet_id) != client_id:
            raise errors.WalletNotFound(f"you have no wallet {from_wallet_id}")
        if to_wallet_id not in owners:
            return _refusal(errors.ReceiverNotFound, f"no wallet {to_wallet_id}")
        debited = _move(tx, {"_id": from_wallet_id, "balance_cents": {"$gte": amount_cents}},
                        -amount_cents, moment)
        if debited is None:
            return _refusal(errors.InsufficientFunds,
                            f"wallet {from_wallet_id} holds less than the amount")
        credited = _move(tx, {"_id": to_wallet_id}, amount_cents, moment)
        assert credited is not None, "wallets are never deleted"
        record = {"_id": new_id("tr"), "from_wallet_id": from_wallet_id,
                  "to_wallet_id": to_wallet_id, "from_client_id": client_id,
                  "to_client_id": owners[to_wallet_id], "amount_cents": amount_cents,
                  "details": details, "status": "completed", "created_at": moment}
        tx.operations.insert_one(_entry(debited, "transfer_out", -amount_cents, moment, details,
                                        record["_id"], to_wallet_id))
        tx.operations.insert_one(_entry(credited, "transfer_in", amount_cents, moment, details,
                                        record["_id"], from_wallet_id))
        tx.transfers.insert_one(record)
        return _success(record)

    return _run(store, idem, work)


def get_client(store, client_id):
    return store.read(lambda db: db.clients.find_one({"_id": client_id}, {"password_hash": 0}))


def find_login(store, email):
    """The client document with its password hash, by email (any case)."""
    return store.read(lambda db: db.clients.find_one({"email_key": email.lower()}))


def get_wallet(store, wallet_id):
    return store.read(lambda db: db.wallets.find_one({"_id": wallet_id}))


def get_client_wallet(store, client_id):
    return store.read(lambda db: db.wallets.find_one({"client_id": client_id}))


def get_transfer(store, transfer_id):
    return store.read(lambda db: db.transfers.find_one({"_id": transfer_id}))


def list_operations(store, wallet_id, limit, before_seq=None):
    """Newest first: up to ``limit`` entries with seq < before_seq, and whether more exist."""
    query = {"wallet_id": wallet_id}
    if before_seq is not None:
        query["seq"] = {"$lt": before_seq}
    page = store.read(lambda db: list(
        db.operations.find(query).sort("seq", DESCENDING).limit(limit + 1)))
    return page[:limit], len(page) > limit
