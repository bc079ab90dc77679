"""Fixtures: an app per test on the embedded engine, or on MongoDB when MONGO_URI is set."""
import os
import uuid

import pytest

from app import create_app

OPERATOR_TOKEN = "test-operator-token"
# A cheap scrypt so tests that sign up hundreds of clients stay quick; production keeps n=2**15.
BASE_CONFIG = {"TESTING": True, "OPERATOR_TOKEN": OPERATOR_TOKEN, "SECRET_KEY": "test-secret",
               "PASSWORD_HASH_METHOD": "scrypt:1024:8:1"}
MONGO_URI = os.environ.get("MONGO_URI")
ENGINES = [
    "embedded",
    pytest.param("mongodb", marks=[pytest.mark.mongo, pytest.mark.skipif(
        not MONGO_URI, reason="needs MONGO_URI naming a MongoDB replica set")]),
]


def pytest_configure(config):
    config.addinivalue_line("markers", "mongo: needs a real MongoDB replica set (MONGO_URI)")


def make_app(engine="embedded", **overrides):
    config = dict(BASE_CONFIG, MONGO_URI=None, **overrides)
    if engine == "mongodb":
        config.update(MONGO_URI=MONGO_URI, MONGO_DB=f"wallet_test_{uuid.uuid4().hex[:12]}")
    return create_app(config)


@pytest.fixture(params=ENGINES)
def app(request):
    app = make_app(request.param)
    yield app
    store = app.extensions["store"]
    if store.engine == "mongodb":
        store._client.drop_database(app.config["MONGO_DB"])


@pytest.fixture
def store(app):
    return app.extensions["store"]


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
    """Assert the books are whole; return the total held, in cents."""
    wallets = list(store.collections["wallets"].find())
    total_held = 0
    for wallet in wallets:
        entries = list(store.collections["operations"].find({"wallet_id": wallet["_id"]}).sort("seq"))
        assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1)), wallet["_id"]
        assert wallet["version"] == len(entries)
        assert wallet["balance_cents"] >= 0
        assert sum(e["amount_cents"] for e in entries) == wallet["balance_cents"]
        assert all(e["balance_after_cents"] >= 0 for e in entries)
        if entries:
            assert entries[-1]["balance_after_cents"] == wallet["balance_cents"]
        total_held += wallet["balance_cents"]
    deposited = sum(e["amount_cents"] for e in store.collections["operations"].find({"type": "deposit"}))
    assert total_held == deposited
    for record in store.collections["transfers"].find():
        legs = list(store.collections["operations"].find({"transfer_id": record["_id"]}))
        assert sorted((e["type"], e["wallet_id"], e["amount_cents"]) for e in legs) == sorted([
            ("transfer_in", record["to_wallet_id"], record["amount_cents"]),
            ("transfer_out", record["from_wallet_id"], -record["amount_cents"])])
    return total_held


def pytest_terminal_summary(terminalreporter):
    """After a run that fuzzed: how many cases ran, per operation, and what failed."""
    from tests import fuzz_report
    if not fuzz_report.CASES:
        return
    failed = [report.nodeid for report in terminalreporter.stats.get("failed", [])
              if "fuzz" in report.nodeid]
    for line in fuzz_report.summary_lines(failed):
        terminalreporter.write_line(line)
