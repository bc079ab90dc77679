"""What a database needs before it serves, as the ledger defines it: ``db init`` makes it
(idempotent), a worker's boot checks it. Storage runs it without knowing what it is."""
from app.ledger import accounts, tenants, webhooks
from app.storage import Seed


def create(collections):
    tenants.ensure_default(collections)
    accounts.ensure_system_accounts(collections["system_accounts"])
    webhooks.backfill_quota_slots(collections)


def check(collections):
    accounts.check_system_accounts(collections["system_accounts"])
    if collections["tenants"].find_one({"_id": tenants.DEFAULT_TENANT}) is None:
        raise RuntimeError("the default tenant is missing")


SEED = Seed(create=create, check=check)
