"""Clients: sign-up (a client and its empty wallet) and the reads behind log-in."""
from pymongo.errors import DuplicateKeyError

from app import errors
from app.ledger import accounts, quotas
from app.ledger import units
from app.ledger.metadata import terms as metadata_terms
from app.ledger.units import new_id, run, success

QUOTA = "client"  # each client holds a slot of its tenant's max_clients (clients are never deleted)


def create_client(store, email, name, password_hash, idem=None, limits=None, metadata=None, most=None):
    """A new client with its empty USD wallet (with ``limits``); returns ({client, wallet}, replayed).
    Emails are unique per tenant; a tenant has at most ``most`` clients (max_clients)."""
    def work(tx):
        moment = units.now()
        email_key = email.lower()
        if tx.clients.find_one({"email_key": email_key}, {"_id": 1}) is not None:
            raise errors.EmailTaken(f"{email} is already registered")
        client = {"_id": new_id("cli"), "email": email, "email_key": email_key, "name": name,
                  "created_at": moment, "metadata": metadata_terms(metadata)}
        if most is not None and quotas.take(tx, QUOTA, tx.tenant_id, most, client["_id"]) is None:
            raise errors.ServiceLimitReached(f"the tenant has {most} clients (max_clients)",
                                             limit="max_clients")
        wallet = accounts.new_wallet(client["_id"], moment, limits)
        tx.clients.insert_one(dict(client, password_hash=password_hash))
        tx.wallets.insert_one(wallet)
        return success({"client": client, "wallet": wallet})

    try:
        return run(store, idem, work)
    except DuplicateKeyError:
        raise errors.EmailTaken(f"{email} is already registered") from None


def get_client(store, client_id):
    return store.read(lambda db: db.clients.find_one({"_id": client_id}, {"password_hash": 0}))


def find_login(store, email):
    """The client document with its password hash, by email (any case)."""
    return store.read(lambda db: db.clients.find_one({"email_key": email.lower()}))
