"""Every index has a query that uses it, and the app at boot on MongoDB only checks for them."""
from app.ledger import seed
from app.storage import schema
from app.storage.embedded import engine as embedded
from app.storage.embedded import EmbeddedStore

# (collection, keys) -> the query that uses the index. An index with no entry here is
# one no query uses: it costs every insert and buys nothing (issue 12, defect 7).
QUERIES = {
    ("clients", (("tenant_id", 1), ("email_key", 1))): "sign-up's uniqueness (per tenant) and log-in: "
    "clients.find_one({tenant_id, email_key})",
    ("wallets", (("client_id", 1),)): "GET /clients/me: wallets.find_one({client_id}); one per client",
    ("operations", (("wallet_id", 1), ("seq", 1))): "statements and GET .../operations: "
    "find({wallet_id, seq: {$lt}}).sort(seq); the audit's $sort + $group of the journal by wallet "
    "(hinted), its read of one wallet's entries, and the one seq per entry it relies on (unique)",
    ("operations", (("transfer_id", 1),)): "the audit's leg walk: find({transfer_id: {$gt: ''}})"
    ".sort(transfer_id), and its point lookup of entries with transfer_id null",
    ("idempotency", (("tenant_id", 1), ("scope", 1), ("key", 1))): "every keyed POST: "
    "idempotency.find_one({tenant_id, scope, key}); one record per key (unique)",
    ("idempotency", (("created_at", 1),)): "none: the TTL monitor expires keys by it",
    ("limit_usage", (("expires_at", 1),)): "none: the TTL monitor drops a day's usage 35 days after it",
    ("console_sessions", (("expires_at", 1),)): "none: the TTL monitor drops a console session once it "
    "expired (the console reads one by _id and checks expires_at itself)",
    ("holds", (("from_wallet_id", 1), ("status", 1), ("expires_at", 1))): "a payer's due holds: "
    "expiry before a debit, wallet reads, the audit's held rule",
    ("holds", (("status", 1), ("expires_at", 1))): "the sweeper: holds pending past expires_at",
    ("holds", (("from_wallet_id", 1), ("created_at", -1), ("_id", -1))): "GET /wallets/{id}/holds, "
    "the payer's side, newest first (hinted; merged with the payee's side)",
    ("holds", (("to_wallet_id", 1), ("created_at", -1), ("_id", -1))): "GET /wallets/{id}/holds, "
    "the payee's side, newest first (hinted)",
    ("payment_requests", (("from_client_id", 1), ("created_at", -1), ("_id", -1))): "GET /payment-requests"
    " as the payer (role=payer, or one of the two reads without a role), newest first (hinted)",
    ("payment_requests", (("to_client_id", 1), ("created_at", -1), ("_id", -1))): "GET /payment-requests"
    " as the payee, newest first (hinted)",
    ("payment_requests", (("status", 1), ("expires_at", 1))): "the sweeper: requests pending past expires_at",
    ("payment_requests", (("to_wallet_id", 1), ("from_wallet_id", 1), ("status", 1))): "a new request "
    "at its pair's limit: that pair's lapsed pending requests, expired first",
    ("transfers", (("from_wallet_id", 1), ("created_at", -1), ("_id", -1))): "GET /transfers of a "
    "wallet, as payer (hinted; app/ledger/search.py)",
    ("transfers", (("to_wallet_id", 1), ("created_at", -1), ("_id", -1))): "GET /transfers of a "
    "wallet, as payee (hinted)",
    ("transfers", (("type", 1), ("created_at", -1), ("_id", -1))): "GET /transfers?type= as the operator",
    ("transfers", (("metadata", 1), ("created_at", -1), ("_id", -1))): "GET /transfers?metadata[k]=v "
    "as the operator (multikey: one entry per key=value term)",
    ("transfers", (("created_at", -1), ("_id", -1))): "GET /transfers as the operator, no narrower filter",
    ("transfers", (("links.refund_of", 1),)): "the audit refund walk: find({links.refund_of: "
    "{$gt: ''}, type: 'refund'}).sort(links.refund_of); audit_pipelines.json's $lookup of a "
    "transfer's refunds",
    ("events", (("tenant_id", 1), ("created_at", 1), ("_id", 1))): "GET /events as a tenant's operator: "
    "find({created_at: {$gte: cursor, $lt: horizon}, after the cursor}).sort(created_at, _id), hinted",
    ("events", (("wallet_ids", 1), ("created_at", 1), ("_id", 1))): "GET /events as a client: "
    "the same, with wallet_ids: its wallet (multikey; hinted, so no plan walks every caller's events)",
    ("events", (("pending_fanout", 1), ("created_at", 1))): "the dispatcher's fan-out: "
    "find({pending_fanout: true}).sort(created_at).limit(100) in index order (partial: only "
    "events not yet fanned out)",
    ("events", (("created_at", 1),)): "none: the TTL monitor expires events by it (30 days)",
    ("deliveries", (("event_id", 1), ("target", 1))): "fan-out's uniqueness: one delivery per "
    "event and target, however many dispatchers",
    ("deliveries", (("status", 1), ("next_attempt_at", 1))): "the dispatcher's claim: pending and "
    "due, or delivering with a lapsed lease",
    ("deliveries", (("endpoint_id", 1), ("created_at", -1))): "GET /webhook-endpoints/{id}/deliveries "
    "(hinted)",
    ("deliveries", (("created_at", 1),)): "none: the TTL monitor expires deliveries by it",
    ("webhook_endpoints", (("owner", 1), ("created_at", 1))): "GET /webhook-endpoints: "
    "find({owner, status}).sort(created_at)",
    ("quota_slots", (("tenant_id", 1), ("kind", 1), ("owner", 1), ("slot", 1))): "a quota's free "
    "slots: find({tenant_id, kind, owner, slot}); at most one document per slot (unique)",
    ("api_keys", (("tenant_id", 1), ("created_at", 1))): "GET /api-keys: find({tenant_id, status})"
    ".sort(created_at)",
    ("admin_log", (("tenant_id", 1), ("at", -1), ("_id", -1))): "GET /admin-log by a tenant: "
    "find({tenant_id, ...}).sort(at, _id) newest first",
    ("admin_log", (("at", -1), ("_id", -1))): "GET /admin-log by the platform operator: every "
    "tenant's, newest first",
    ("withdrawals", (("wallet_id", 1), ("created_at", -1), ("_id", -1))): "GET /wallets/{id}/withdrawals "
    "newest first (hinted); the audit's held rule: a wallet's pending and processing withdrawals",
    ("withdrawals", (("status", 1), ("updated_at", 1))): "the background steps: pending withdrawals to "
    "submit, processing (and awaiting_return) ones to settle, oldest first",
}


def test_each_index_is_listed_with_the_query_that_uses_it():
    declared = {(name, tuple(keys)) for name, keys, _ in schema.declared_indexes(3600)}
    assert declared == set(QUERIES)


def test_the_two_indexes_no_query_used_are_gone_and_db_init_drops_them():
    declared = {(name, tuple(keys)) for name, keys, _ in schema.declared_indexes(3600)}
    for name, keys_list in schema.OBSOLETE_INDEXES.items():
        for keys in keys_list:
            assert (name, tuple(keys)) not in declared
    _, collections = embedded.open_database("obsolete", schema.COLLECTIONS)
    collections["operations"].create_index([("wallet_id", 1), ("created_at", 1)])
    store = EmbeddedStore(collections)
    schema.initialise(store, 3600, seed=seed.SEED)
    assert schema._find_index(collections["operations"], [("wallet_id", 1), ("created_at", 1)]) is None


def test_the_boot_check_names_what_db_init_has_not_made():
    _, collections = embedded.open_database("uninitialised", schema.COLLECTIONS)
    store = EmbeddedStore(collections)
    problems, _ = schema.check_initialised(store, 3600, seed=seed.SEED)
    assert "index operations (wallet_id, seq) is missing" in problems
    assert "no schema version is recorded" in problems
    assert any("sys_bank_00 is missing" in problem for problem in problems)
    schema.initialise(store, 3600, seed=seed.SEED)
    assert schema.check_initialised(store, 3600, seed=seed.SEED)[0] == []


def test_a_changed_ttl_is_a_warning_at_boot_not_a_refusal(monkeypatch):
    # The embedded engine keeps no TTL option, so the index is read as MongoDB reports it.
    _, collections = embedded.open_database("ttl", schema.COLLECTIONS)
    store = EmbeddedStore(collections)
    schema.initialise(store, 3600, seed=seed.SEED)

    def as_mongodb_reports(collection):
        real = collection.index_information

        def information():
            found = real()
            for index in found.values():
                keys = [(field, int(direction)) for field, direction in index["key"]]
                if keys == [("created_at", 1)]:  # idempotency 3600 s; events, deliveries 30 days
                    index["expireAfterSeconds"] = (3600 if collection.name == "idempotency"
                                                   else schema.EVENTS_TTL_S)
                if keys == [("expires_at", 1)] and collection.name in ("limit_usage", "console_sessions"):
                    index["expireAfterSeconds"] = 0  # expires at the date the field holds
            return found
        return information

    for collection in collections.values():
        monkeypatch.setattr(collection, "index_information", as_mongodb_reports(collection))
    monkeypatch.setattr(store, "ttl_in_index", True)
    assert schema.check_initialised(store, 3600, seed=seed.SEED) == ([], [])
    problems, warnings = schema.check_initialised(store, 7200, seed=seed.SEED)
    assert problems == [] and "expires after 3600 s, IDEMPOTENCY_TTL_S says 7200" in warnings[0]
