"""Every unit of work decides only on documents it also writes (or on what never changes).

MongoDB runs transactions under snapshot isolation and detects write conflicts per
document: two units that each read a document the other writes both commit (write
skew), so a rule checked on a document a unit only reads can be broken by two units
at once. The wire stand-in cannot show it (its commits conflict globally), so this test
looks at what each committed unit reads and writes instead, over a walk through every
endpoint and every background step, and fails on a read that nothing secures.

A read is secured when the unit writes the same document; or reads only fields that
never change once written (IMMUTABLE); or reads a collection whose documents never
change (APPEND_ONLY); or finds nothing and then inserts what it looked for under a
unique index (the insert, not the read, decides). ADVISORY lists the reads that only
pick a candidate that a unique insert then decides. docs/architecture.md's table of
units of work states the same, unit by unit.
"""
import pytest
from mongomock.filtering import filter_applies

from app.events import dispatch
from app.ledger import sweeper
from app.storage import schema
from tests.conftest import Api, make_app
from tests.api import test_contract

IMMUTABLE = {
    "wallets": {"_id", "client_id", "currency", "kind", "created_at"},
    "clients": {"_id", "email", "email_key", "created_at"},
    "holds": {"_id", "from_wallet_id", "to_wallet_id", "from_client_id", "to_client_id", "amount_cents",
              "details", "created_at", "expires_at", "limit_day"},
    "payment_requests": {"_id", "from_wallet_id", "to_wallet_id", "from_client_id", "to_client_id",
                         "amount_cents", "details", "created_at", "expires_at"},
    "withdrawals": {"_id", "wallet_id", "client_id", "amount_cents", "destination", "provider",
                    "details", "created_at", "limit_day"},
    "transfers": {"_id", "type", "amount_cents", "from_wallet_id", "to_wallet_id", "from_client_id",
                  "to_client_id", "details", "created_at", "postings", "links"},
}
# Written once, never updated: reading one decides nothing another unit could change.
APPEND_ONLY = {"idempotency", "operations"}
# Reads (collection, the fields the filter names) that decide nothing a concurrent unit could
# make wrong: they pick a candidate a unique insert decides, or find work (a due expiry) whose
# absence can only refuse what might have passed, never let through what must not.
ADVISORY = {
    ("quota_slots", ("kind", "owner")): "the next slot number: the unique (kind, owner, slot) insert decides",
    ("quota_slots", ("kind", "owner", "slot")): "the free slot numbers: the unique insert decides",
    ("holds", ("expires_at", "from_wallet_id", "status")): "a payer's due holds, expired before a debit",
    ("payment_requests", ("expires_at", "from_wallet_id", "status", "to_wallet_id")):
        "a pair's lapsed requests, expired before a new one takes a slot",
}
# Reads a wallet's close decides on (app/ledger/states.py): every unit that could make one of
# them find something writes that same wallet document (a reservation of the payer, or
# states.touch_open of the payee and the hold's receiver), which the close writes too, so on
# MongoDB the two conflict and one runs again after the other.
ADVISORY.update({
    ("holds", ("status", "to_wallet_id")): "a closing wallet's holds to receive: their creation writes it",
    ("payment_requests", ("expires_at", "from_wallet_id", "status")):
        "a closing wallet's pending requests as payer: their creation writes it",
    ("payment_requests", ("expires_at", "status", "to_wallet_id")):
        "a closing wallet's pending requests as payee: their creation writes it",
    ("withdrawals", ("$or", "wallet_id")): "a closing wallet's withdrawals in flight: each reserved "
                                           "its money by writing it",
})
READS = ("find", "find_one", "count_documents", "aggregate")
# The tenant layer (app/storage/tenancy.py) adds this to every filter, and no update may change it.
TENANT = "tenant_id"


class _Cursor:
    def __init__(self, cursor, on_result):
        self._cursor, self._on_result = cursor, on_result

    def __getattr__(self, name):
        method = getattr(self._cursor, name)
        return lambda *args, **kwargs: _Cursor(method(*args, **kwargs), self._on_result)

    def __iter__(self):
        documents = list(self._cursor)
        self._on_result(documents)
        return iter(documents)


class _Spy:
    """One collection of one unit: notes each read (filter, fields, documents) and write."""

    def __init__(self, name, collection, unit):
        self._name, self._collection, self._unit = name, collection, unit

    def __getattr__(self, method_name):
        method = getattr(self._collection, method_name)

        def call(*args, **kwargs):
            result = method(*args, **kwargs)
            if method_name in READS:
                self._read(method_name, args, kwargs, result)
            else:
                self._unit.wrote(self._name, method_name, args, kwargs, result)
            return result
        if method_name == "find":
            return lambda *args, **kwargs: _Cursor(method(*args, **kwargs), lambda docs: self._unit.read(
                self._name, "find", _arg(args, kwargs, 0, "filter"), _arg(args, kwargs, 1, "projection"),
                docs))
        return call

    def _read(self, method_name, args, kwargs, result):
        filter, projection = _arg(args, kwargs, 0, "filter"), _arg(args, kwargs, 1, "projection")
        documents = [result] if isinstance(result, dict) else [] if result is None else None
        self._unit.read(self._name, method_name, filter, projection, documents)


def _arg(args, kwargs, index, name):
    return args[index] if len(args) > index else kwargs.get(name)


class Unit:
    """What one unit of work read and wrote."""

    def __init__(self):
        self.reads, self.written, self.inserted = [], set(), []

    def read(self, collection, method, filter, projection, documents):
        self.reads.append((collection, method, filter or {}, projection, documents))

    def wrote(self, collection, method, args, kwargs, result):
        if method in ("insert_one", "insert_many"):
            documents = [args[0]] if method == "insert_one" else list(args[0])
            self.inserted += [(collection, doc) for doc in documents]
            self.written |= {(collection, doc.get("_id")) for doc in documents}
        elif isinstance(result, dict) and "_id" in result:  # find_one_and_update and the like
            self.written.add((collection, result["_id"]))
        elif isinstance(_arg(args, kwargs, 0, "filter"), dict) and "_id" in args[0]:
            self.written.add((collection, args[0]["_id"]))

    def unsecured(self, unique_keys):
        """The reads nothing secures, each as a readable line."""
        found = []
        for collection, method, filter, projection, documents in self.reads:
            if collection in APPEND_ONLY or (collection, tuple(sorted(set(filter) - {TENANT}))) in ADVISORY:
                continue
            if documents is None:  # a count or an aggregate: a number made of others' documents
                found.append(f"{collection}.{method}({filter}) decides on a count")
            elif not documents:
                if not self._inserted_under_unique_key(collection, filter, unique_keys):
                    found.append(f"{collection}.{method}({filter}) found nothing and inserted no such "
                                 "document under a unique index")
            for doc in documents or ():
                fields = set(projection or doc) - {"_id"} if isinstance(projection, dict) else set(doc)
                changing = fields - IMMUTABLE.get(collection, set()) - {TENANT}
                if (collection, doc["_id"]) not in self.written and changing:
                    found.append(f"{collection}.{method}({filter}) read {sorted(changing)} of {doc['_id']}, "
                                 "which the unit does not write")
        return found

    def _inserted_under_unique_key(self, collection, filter, unique_keys):
        pinned = {key for key, value in filter.items() if not isinstance(value, dict)}
        covered = "_id" in pinned or any(set(keys) <= pinned for keys in unique_keys.get(collection, ()))
        return covered and any(name == collection and filter_applies(filter, doc)
                               for name, doc in self.inserted)


@pytest.fixture
def spied():
    """An embedded app whose every committed unit of work is checked when it commits."""
    app = make_app()
    store, problems = app.extensions["storage"], []  # beneath the tenant layer: what the engine runs
    unique_keys = {}
    for name, keys, options in schema.declared_indexes(3600):
        if options.get("unique"):
            unique_keys.setdefault(name, []).append([field for field, _ in keys])
    transaction = store.transaction

    def spying(work):
        unit = Unit()
        result = transaction(lambda view: work(type(view)(
            {name: _Spy(name, getattr(view, name), unit) for name in store.collections},
            savepoint=view.savepoint, rollback_to=view.rollback_to)))
        problems.extend(unit.unsecured(unique_keys))  # reached only when the unit committed
        return result

    store.transaction = spying
    return app, problems


def test_no_unit_of_work_decides_on_a_document_it_does_not_write(spied):
    app, problems = spied
    client = app.test_client()
    walk = test_contract.Walk(client, client.get("/openapi.json").json)
    test_contract.test_every_documented_response_matches_a_real_one(app, Api(client), walk)
    store = app.extensions["store"].tenant("default")
    sweeper.sweep(store)
    dispatcher = dispatch.Dispatcher(store, app.config, app.extensions["dispatch_steps"])
    dispatcher.tick()
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_check_finds_a_count_read_then_an_insert(spied):
    """The check itself can fail: a unit that counts and then inserts (the write skew the
    webhook endpoints' cap had) is reported."""
    app, problems = spied

    def counted(tx):
        if tx.webhook_endpoints.count_documents({"owner": "x"}) < 16:
            tx.webhook_endpoints.insert_one({"_id": "we_x", "owner": "x"})

    app.extensions["store"].tenant("default").transaction(counted)
    assert problems == [
        "webhook_endpoints.count_documents({'owner': 'x', 'tenant_id': 'default'}) decides on a count"]
