"""The schema: collections, indexes, the data model's version, and ``db init``.

Initialisation (indexes, the schema version, and whatever the caller seeds: the
ledger's system accounts) is one command on MongoDB, ``flask --app app db init``,
run once per deployment (compose: the ``init`` service); a worker at boot only
checks and names what is missing, since an index build on a populated collection
outlasts gunicorn's boot timeout. The embedded engine initialises itself: its
data is born with the process.
"""
from typing import Callable, NamedTuple

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import OperationFailure

COLLECTIONS = ("clients", "wallets", "system_accounts", "operations", "transfers", "idempotency",
               "events", "meta", "holds", "webhook_endpoints", "deliveries", "limit_usage",
               "payment_requests", "payment_request_pairs", "withdrawals", "quota_slots",
               "console_sessions", "tenants", "api_keys", "admin_log")
# The data model's version, recorded in meta at initialisation (docs/changelog.md). 2:
# double-entry (system accounts, postings, held and available); 3: every document carries
# its tenant_id, and a transfer its links (hold, refund, withdrawal...) in one field.
# ``db init`` migrates a database of a MIGRATABLE version to this one.
SCHEMA_VERSION = 3
MIGRATABLE = (2,)
STAMP_BATCH = 1000  # documents stamped with their tenant per round trip (version 2 -> 3)
INDEX_OPTIONS_CONFLICT = 85  # an index with these keys exists with other options
# The fields that lead GET /transfers' indexes (None: the walk of every transfer newest first).
SEARCH_LEADS = ("from_wallet_id", "to_wallet_id", "type", "metadata", None)
EVENTS_TTL_S = 30 * 24 * 3600  # events and deliveries are kept at least 30 days (EVENTS_TTL_S)
# Indexes earlier versions made that no query uses (each cost every insert); db init drops them.
# Version 3 leads the unique indexes (and the feeds read per tenant) with tenant_id.
OBSOLETE_INDEXES = {"operations": [[("wallet_id", 1), ("created_at", 1)]],
                    "transfers": [[("from_wallet_id", 1), ("created_at", -1)],
                                  # replaced by links.refund_of: a refund names its original in links
                                  [("refund_of", 1)]],
                    # replaced by (pending_fanout, created_at): the fan-out's order without a sort
                    "events": [[("pending_fanout", 1)], [("created_at", 1), ("_id", 1)]],
                    "clients": [[("email_key", 1)]],
                    "idempotency": [[("scope", 1), ("key", 1)]],
                    "quota_slots": [[("kind", 1), ("owner", 1), ("slot", 1)]]}


# The indexes a caller's listing reads through, led by the caller's side: the readers name them
# (hint), so that no planner walks one that holds every caller's documents (issue 29).
FEED_INDEX = [("tenant_id", ASCENDING), ("created_at", ASCENDING),
              ("_id", ASCENDING)]  # operator's GET /events
WALLET_FEED_INDEX = [("wallet_ids", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)]
DELIVERIES_INDEX = [("endpoint_id", ASCENDING), ("created_at", DESCENDING)]


NEWEST_FIRST_INDEX = [("created_at", DESCENDING), ("_id", DESCENDING)]


def newest_first_index(party):
    """A party's documents newest first, (created_at, _id) breaking ties: holds, payment
    requests and withdrawals are listed through one of these per party field; None: everyone's."""
    if party is None:
        return list(NEWEST_FIRST_INDEX)
    return [(party, ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]


def create_indexes(collections, idempotency_ttl_s, events_ttl_s=EVENTS_TTL_S):
    """Declare every index a query needs (idempotent on both engines).

    Each one is listed with the query it serves in tests/storage/test_indexes.py: an index
    no query uses only costs every insert.
    """
    # Emails are unique per tenant.
    collections["clients"].create_index([("tenant_id", ASCENDING), ("email_key", ASCENDING)], unique=True)
    collections["wallets"].create_index([("client_id", ASCENDING)], unique=True)
    collections["operations"].create_index(
        [("wallet_id", ASCENDING), ("seq", ASCENDING)], unique=True)
    # The audit walks transfer legs in transfer_id order to match them with their transfer.
    collections["operations"].create_index([("transfer_id", ASCENDING)])
    # Holds: a payer's due holds (expiry before a debit, wallet reads, the sweeper and the
    # audit's held rule), and a wallet's holds newest first (GET /wallets/{id}/holds).
    collections["holds"].create_index(
        [("from_wallet_id", ASCENDING), ("status", ASCENDING), ("expires_at", ASCENDING)])
    collections["holds"].create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
    for party in ("from_wallet_id", "to_wallet_id"):
        collections["holds"].create_index(newest_first_index(party))
    # Withdrawals: a wallet's, newest first (the listing; the audit's held rule by wallet), and
    # the background steps' queue of those pending or processing, oldest first.
    collections["withdrawals"].create_index(newest_first_index("wallet_id"))
    collections["withdrawals"].create_index([("status", ASCENDING), ("updated_at", ASCENDING)])
    collections["idempotency"].create_index(
        [("tenant_id", ASCENDING), ("scope", ASCENDING), ("key", ASCENDING)], unique=True)
    # A client's requests, newest first, as payer or as payee; the sweeper's lapsed ones; a pair's.
    for party in ("from_client_id", "to_client_id"):
        collections["payment_requests"].create_index(newest_first_index(party))
    collections["payment_requests"].create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
    collections["payment_requests"].create_index(
        [("to_wallet_id", ASCENDING), ("from_wallet_id", ASCENDING), ("status", ASCENDING)])
    # Quotas (app/ledger/quotas.py): one slot document per live thing; the index refuses a second.
    collections["quota_slots"].create_index(
        [("tenant_id", ASCENDING), ("kind", ASCENDING), ("owner", ASCENDING), ("slot", ASCENDING)],
        unique=True)
    # Tenants (app/ledger/tenants.py) are read by _id; a tenant's API keys listed oldest first;
    # the admin log newest first, a tenant's and (the platform operator's) every tenant's.
    collections["api_keys"].create_index([("tenant_id", ASCENDING), ("created_at", ASCENDING)])
    collections["admin_log"].create_index(
        [("tenant_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)])
    collections["admin_log"].create_index([("at", DESCENDING), ("_id", DESCENDING)])
    # The audit's refunds in the order of the transfer they point at, and its $lookup of them.
    collections["transfers"].create_index([("links.refund_of", ASCENDING)])
    # GET /transfers (app/ledger/search.py): a wallet's as payer or as payee, and the operator's
    # by type, by a metadata term, or all, each newest first (docs/features/metadata-search-states.md).
    for leading in SEARCH_LEADS:
        collections["transfers"].create_index(newest_first_index(leading))
    _ttl_index(collections["idempotency"], "created_at", idempotency_ttl_s)
    _event_indexes(collections, events_ttl_s)
    # A wallet's daily usage (app/ledger/limits.py) is keyed by _id; each expires on its own date.
    _ttl_index(collections["limit_usage"], "expires_at", 0)
    # Console sessions (app/console/sessions.py) are keyed by _id; each expires at its own time.
    _ttl_index(collections["console_sessions"], "expires_at", 0)


def _event_indexes(collections, events_ttl_s):
    """The feed's order, the dispatcher's queues, and events kept EVENTS_TTL_S (>= 30 days)."""
    events, deliveries = collections["events"], collections["deliveries"]
    events.create_index(FEED_INDEX)
    events.create_index(WALLET_FEED_INDEX)
    # The fan-out's oldest pending events, in order from the index (no in-memory sort of a
    # backlog); partial: only events not yet fanned out are in it.
    events.create_index([("pending_fanout", ASCENDING), ("created_at", ASCENDING)],
                        partialFilterExpression={"pending_fanout": True})
    _ttl_index(events, "created_at", events_ttl_s, name="events_ttl")
    # One delivery per event and target: two dispatchers fanning out one event make one.
    deliveries.create_index([("event_id", ASCENDING), ("target", ASCENDING)], unique=True)
    deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
    deliveries.create_index(DELIVERIES_INDEX)
    _ttl_index(deliveries, "created_at", events_ttl_s, name="deliveries_ttl")
    collections["webhook_endpoints"].create_index([("owner", ASCENDING), ("created_at", ASCENDING)])


def _ttl_index(collection, field, ttl_s, **options):
    """A TTL index on ``field``; when its time to live changed since it was made, retime it."""
    try:
        collection.create_index([(field, ASCENDING)], expireAfterSeconds=ttl_s, **options)
    except OperationFailure as exc:
        if exc.code != INDEX_OPTIONS_CONFLICT:
            raise
        # Same keys, other options: MongoDB refuses to re-create it, but collMod changes it in
        # place. collMod needs dbAdmin, which only `db init`'s user has (readWrite lacks it).
        collection.database.command("collMod", collection.name, index={
            "keyPattern": {field: 1}, "expireAfterSeconds": ttl_s})


class Seed(NamedTuple):
    """Documents a database needs before it serves (the ledger's system accounts), given by the
    caller so that storage knows nothing of the ledger. Each takes the collections by name."""

    create: Callable   # make what is missing (idempotent)
    check: Callable    # raise RuntimeError naming what is missing or corrupt


NO_SEED = Seed(lambda collections: None, lambda collections: None)


def initialise(store, idempotency_ttl_s, events_ttl_s=EVENTS_TTL_S, seed=NO_SEED):
    """Indexes, schema version and the seed (``flask --app app db init``); idempotent. A database
    of a MIGRATABLE version is migrated first (resumable: run it again after an interruption)."""
    found = store.collections["meta"].find_one({"_id": "schema"})
    migrating = found is not None and found.get("version") in MIGRATABLE
    if migrating:
        stamp_tenant(store.collections)
        move_links(store.collections)
    for name, keys_list in OBSOLETE_INDEXES.items():
        for keys in keys_list:
            if _find_index(store.collections[name], keys) is not None:
                store.collections[name].drop_index(keys)
    create_indexes(store.collections, idempotency_ttl_s, events_ttl_s)
    seed.create(store.collections)
    if migrating:
        store.collections["meta"].update_one({"_id": "schema", "version": found["version"]},
                                             {"$set": {"version": SCHEMA_VERSION}})
    record_schema_version(store.collections["meta"])


# Version 2 kept what caused a transfer as fields of its own; version 3 keeps them in ``links``.
LEGACY_LINKS = ("hold_id", "refund_of", "withdrawal_id")


def move_links(collections, batch=STAMP_BATCH):
    """Version 2 -> 3: copy a transfer's (and its entries') cause into ``links`` (idempotent)."""
    legacy = [{field: {"$exists": True}} for field in LEGACY_LINKS]
    for name in ("transfers", "operations"):
        collection = collections[name]
        while True:
            found = list(collection.find({"links": {"$exists": False}, "$or": legacy}).limit(batch))
            if not found:
                break
            for doc in found:
                links = {field: doc[field] for field in LEGACY_LINKS if doc.get(field) is not None}
                collection.update_one({"_id": doc["_id"], "links": {"$exists": False}},
                                      {"$set": {"links": links}})


def stamp_tenant(collections, tenant_id="default", batch=STAMP_BATCH, names=COLLECTIONS):
    """Version 2 -> 3: put every document of ``names`` that has no tenant in ``tenant_id``,
    ``batch`` at a time (idempotent; an interrupted run is finished by the next)."""
    for name in names:
        if name == "meta":
            continue
        collection = collections[name]
        while True:
            ids = [doc["_id"] for doc in collection.find({"tenant_id": {"$exists": False}}, {"_id": 1})
                   .limit(batch)]
            if not ids:
                break
            collection.update_many({"_id": {"$in": ids}, "tenant_id": {"$exists": False}},
                                   {"$set": {"tenant_id": tenant_id}})


class _Declared:
    """A stand-in collection that records the indexes ``create_indexes`` declares."""

    def __init__(self, name, found):
        self.name, self._found = name, found

    def create_index(self, keys, **options):
        self._found.append((self.name, [(field, direction) for field, direction in keys], options))


def declared_indexes(idempotency_ttl_s, events_ttl_s=EVENTS_TTL_S):
    """[(collection, [(field, direction)], options)] as create_indexes declares them."""
    found = []
    create_indexes({name: _Declared(name, found) for name in COLLECTIONS}, idempotency_ttl_s,
                   events_ttl_s)
    return found


def _find_index(collection, keys):
    return _index_with(collection.index_information(), keys)


def _index_with(information, keys):
    """The index of ``index_information()`` on exactly ``keys`` (in order), or None."""
    for index in information.values():
        if [(field, int(direction)) for field, direction in index["key"]] == list(keys):
            return index
    return None


def check_initialised(store, idempotency_ttl_s, events_ttl_s=EVENTS_TTL_S, seed=NO_SEED):
    """(problems, warnings): what ``db init`` has not made, and what it would change."""
    problems, warnings = [], []
    information = {}  # one listIndexes per collection, not one per index
    for name, keys, options in declared_indexes(idempotency_ttl_s, events_ttl_s):
        if name not in information:
            information[name] = store.collections[name].index_information()
        index = _index_with(information[name], keys)
        fields = ", ".join(field for field, _ in keys)
        if index is None:
            problems.append(f"index {name} ({fields}) is missing")
        elif bool(index.get("unique")) != bool(options.get("unique")):
            problems.append(f"index {name} ({fields}) should be unique={bool(options.get('unique'))}")
        elif (store.ttl_in_index  # the embedded engine keeps its TTL outside the index
              and index.get("expireAfterSeconds") != options.get("expireAfterSeconds")):
            warnings.append(f"index {name} ({fields}) expires after {index.get('expireAfterSeconds')}"
                            f" s, {'IDEMPOTENCY_TTL_S' if name == 'idempotency' else 'EVENTS_TTL_S'} says "
                            f"{options.get('expireAfterSeconds')}; "
                            "`flask --app app db init` retimes it")
    schema = store.collections["meta"].find_one({"_id": "schema"})
    if schema is None:
        problems.append("no schema version is recorded")
    elif schema.get("version") in MIGRATABLE:
        problems.append(f"the database holds data model version {schema['version']!r}; this build "
                        f"needs {SCHEMA_VERSION}: run `flask --app app db init` to migrate it")
    elif schema.get("version") != SCHEMA_VERSION:
        problems.append(f"the database holds data model version {schema.get('version')!r}; this "
                        f"build needs {SCHEMA_VERSION} (docs/changelog.md lists the versions)")
    try:
        seed.check(store.collections)
    except RuntimeError as exc:
        problems.append(str(exc))
    return problems, warnings


def record_schema_version(meta):
    """Record SCHEMA_VERSION in a new database; refuse a database of another version."""
    meta.update_one({"_id": "schema"}, {"$setOnInsert": {"version": SCHEMA_VERSION}}, upsert=True)
    found = meta.find_one({"_id": "schema"})["version"]
    if found != SCHEMA_VERSION:
        raise RuntimeError(
            f"the database holds data model version {found!r}; this build needs version "
            f"{SCHEMA_VERSION}. Point MONGO_DB at a database made by this version, or run the "
            "build that matches the data (docs/changelog.md lists the versions).")
