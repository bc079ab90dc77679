"""Fixtures: an app per test on the embedded engine, or on MongoDB when MONGO_URI is set."""
import collections
import threading
import os
import uuid

import pytest

from app.storage.tenancy import DEFAULT_TENANT

from app import audit, create_app

OPERATOR_TOKEN = "test-operator-token"
# A cheap scrypt so tests that sign up hundreds of clients stay quick; production keeps n=2**15.
# The event feed serves events at once on MongoDB too (its default waits 75 s for late commits;
# tests/api/test_events.py tests that window with a setting of its own). Test receivers listen on
# ports the OS picks: any port may be registered (tests/api/test_url_guard.py checks the default,
# 443 and 80, with WEBHOOK_ALLOWED_PORTS=None).
BASE_CONFIG = {"TESTING": True, "OPERATOR_TOKEN": OPERATOR_TOKEN, "SECRET_KEY": "test-secret",
               "PASSWORD_HASH_METHOD": "scrypt:1024:8:1", "EVENTS_SETTLE_MS": 0,
               "WEBHOOK_ALLOWED_PORTS": "1-65535"}
MONGO_URI = os.environ.get("MONGO_URI")
# Set by tests/support/wire_standin.py: MONGO_URI names the wire stand-in, not a real replica set.
ON_STANDIN = os.environ.get("MONGO_STANDIN") == "1"
if ON_STANDIN:
    # The stand-in is one Python process serving every test, and its commits conflict globally
    # (scripts/standin/adapter.py): a storm of 8 threads retries far more than on MongoDB and,
    # on a loaded machine, passes the default 15 s a request may take. The tests of that limit
    # set their own (tests/storage/test_mongo.py).
    BASE_CONFIG["REQUEST_TIMEOUT_MS"] = 60_000
ENGINES = [
    "embedded",
    pytest.param("mongodb", marks=[pytest.mark.mongo, pytest.mark.skipif(
        not MONGO_URI, reason="needs MONGO_URI naming a MongoDB replica set")]),
]


def pytest_configure(config):
    config.addinivalue_line("markers", "mongo: runs on the server MONGO_URI names (the stand-in or MongoDB)")
    config.addinivalue_line("markers", "standin: the wire stand-in's conformance to MongoDB's rules")


def needs_real_replica_set(behaviour):
    """Skip on the wire stand-in a test of ``behaviour``, which the stand-in cannot reproduce
    (docs/testing.md lists each such test); it runs on a real replica set (make test-mongo)."""
    return pytest.mark.skipif(ON_STANDIN, reason=f"needs a real replica set: {behaviour}")


def pytest_collection_modifyitems(config, items):
    """With TEST_SHARD=i/n (tests/support/shards.py, make test), keep every n-th test from the i-th."""
    shard = os.environ.get("TEST_SHARD")
    if shard:
        from tests.support.shards import shard_of
        items[:], dropped = shard_of(items, shard)
        config.hook.pytest_deselected(items=dropped)


def pytest_terminal_summary(terminalreporter):
    """What a run did not test (one line per skip reason), and, after a fuzz, what it ran."""
    from tests.support import fuzz_report
    reasons = collections.Counter(report.longrepr[2].removeprefix("Skipped: ")
                                  for report in terminalreporter.stats.get("skipped", []))
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f"skipped {count}: {reason}")
    if fuzz_report.CASES:
        failed = [report.nodeid for report in terminalreporter.stats.get("failed", [])
                  if "fuzz" in report.nodeid]
        for line in fuzz_report.summary_lines(failed):
            terminalreporter.write_line(line)


def make_app(engine="embedded", **overrides):
    """An app on the engine; on MongoDB in a fresh database unless MONGO_DB is given."""
    config = dict(BASE_CONFIG, MONGO_URI=None, **overrides)
    if engine == "mongodb":
        config["MONGO_URI"] = MONGO_URI
        config.setdefault("MONGO_DB", f"wallet_test_{uuid.uuid4().hex[:12]}")
        init_mongodb(config)
    return create_app(config)


def init_mongodb(config):
    """What `flask --app app db init` does, once per test database: the app at boot only checks."""
    from app import storage
    from app.ledger import seed
    from app.storage import schema
    from config import Config
    full = {key: getattr(Config, key) for key in dir(Config) if key.isupper()}
    full.update(config)
    store = storage.open_store(full)
    try:
        schema.initialise(store, full["IDEMPOTENCY_TTL_S"], seed=seed.SEED)
    finally:
        store.close()


@pytest.fixture(params=ENGINES)
def app(request):
    app = make_app(request.param)
    yield app
    store = app.extensions["storage"]
    if store.engine == "mongodb":
        store._client.drop_database(app.config["MONGO_DB"])
    store.close()  # one MongoClient per test would otherwise leak its pool and monitor threads


@pytest.fixture
def store(app):
    """The default tenant's books, as its requests see them (app/storage/tenancy.py)."""
    return app.extensions["store"].tenant(DEFAULT_TENANT)


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """Repeated API actions for tests (sign up, log in, top up, transfer)."""

    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

    def __init__(self, client):
        self.client = client
        self._count = 0

    def signup(self, email=None, name="Test Client", password="password123"):
        self._count += 1
        email = email or f"user{self._count}-{uuid.uuid4().hex[:6]}@example.com"
        response = self.client.post("/clients", json={"email": email, "name": name,
                                                      "password": password})
        assert response.status_code == 201, response.json
        return response.json

    def login(self, email, password="password123"):
        response = self.client.post("/auth/token", json={"email": email, "password": password})
        assert response.status_code == 200, response.json
        return {"Authorization": f"Bearer {response.json['access_token']}"}

    def member(self, balance=None):
        """A signed-up client: (client json, auth headers, wallet id), optionally topped up."""
        body = self.signup()
        headers = self.login(body["email"])
        if balance is not None:
            self.deposit(body["wallet"]["id"], balance)
        return body, headers, body["wallet"]["id"]

    def deposit(self, wallet_id, amount, **headers):
        return self.client.post(f"/wallets/{wallet_id}/deposits", json={"amount": amount},
                                headers=dict(self.operator, **headers))

    def transfer(self, headers, from_id, to_id, amount, **extra):
        body = {"from_wallet_id": from_id, "to_wallet_id": to_id, "amount": amount}
        return self.client.post("/transfers", json=body, headers=dict(headers, **extra))

    def balance(self, headers, wallet_id):
        response = self.client.get(f"/wallets/{wallet_id}", headers=headers)
        assert response.status_code == 200, response.json
        return response.json["balance"]


@pytest.fixture
def api(client):
    return Api(client)


def check_ledger(store):
    """Assert the books are whole (every rule of app/audit/rules.py); return the total held, in cents."""
    report = audit.verify(store)
    assert report.ok, report.violations
    # Money in through deposits is held by clients unless it left through withdrawals (payouts).
    assert report.total_held_cents == report.total_deposited_cents - report.system_balances["payouts"]
    return report.total_held_cents


def run_at_once(count, call):
    """``call(i)`` in ``count`` real threads started together; the results in order."""
    results, barrier = [None] * count, threading.Barrier(count)

    def worker(index):
        barrier.wait()
        results[index] = call(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
