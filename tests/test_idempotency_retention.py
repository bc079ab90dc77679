"""Idempotency records do not grow without bound on the embedded engine: a TTL, and a cap per caller."""
from datetime import timedelta

import pytest

from app.storage.embedded import engine as embedded
from app.storage.embedded import retention as embedded_retention
from tests.conftest import Api, make_app


@pytest.fixture
def later(monkeypatch):
    """Move the engine's clock ``seconds`` ahead of the wall clock."""
    def move(seconds):
        real = embedded_retention.utcnow
        monkeypatch.setattr(embedded_retention, "utcnow", lambda: real() + timedelta(seconds=seconds))
    return move


def _refused(api, headers, wallet_id, other_id, key, amount="5.00"):
    return api.transfer(headers, wallet_id, other_id, amount, **{"Idempotency-Key": key})


def test_a_record_expires_after_the_ttl(later):
    app = make_app(IDEMPOTENCY_TTL_S=60)
    api = Api(app.test_client())
    _, headers, wallet_id = api.member()
    _, _, other_id = api.member()
    assert _refused(api, headers, wallet_id, other_id, "k1").json["code"] == "insufficient_funds"
    records = app.extensions["store"].collections["idempotency"]
    assert records.count_documents({}) == 1
    later(59)
    assert _refused(api, headers, wallet_id, other_id, "k1", "6.00").json["code"] == "idempotency_key_reused"
    later(61)
    # Past the TTL the key is new again: the other amount is judged on its own.
    assert _refused(api, headers, wallet_id, other_id, "k1", "6.00").json["code"] == "insufficient_funds"
    later(200)
    assert records.count_documents({}) == 0


def test_one_caller_keeps_at_most_the_cap_oldest_dropped():
    app = make_app(IDEMPOTENCY_MAX_PER_SCOPE=5)
    api = Api(app.test_client())
    body, headers, wallet_id = api.member()
    _, other_headers, other_id = api.member()
    for n in range(8):
        assert _refused(api, headers, wallet_id, other_id, f"k{n}").status_code == 422
    _refused(api, other_headers, other_id, wallet_id, "theirs")
    records = app.extensions["store"].collections["idempotency"]
    mine = {r["key"] for r in records.find({"scope": f"client:{body['id']}"})}
    assert mine == {"k3", "k4", "k5", "k6", "k7"}
    assert records.count_documents({"key": "theirs"}) == 1  # another caller's records stay
    assert _refused(api, headers, wallet_id, other_id, "k7").headers.get("Idempotent-Replayed") == "true"
    assert _refused(api, headers, wallet_id, other_id, "k0").headers.get("Idempotent-Replayed") is None


def test_the_engine_honours_a_ttl_index_and_a_retimed_one(later):
    _, collections = embedded.open_database("t", ["docs"])
    docs = collections["docs"]
    docs.create_index([("at", 1)], expireAfterSeconds=10)
    now = embedded_retention.utcnow()
    docs.insert_many([{"_id": 1, "at": now}, {"_id": 2, "at": "not a date"}, {"_id": 3, "at": now}])
    later(11)
    assert [d["_id"] for d in docs.find({})] == [2]  # a field that is not a date never expires
    docs.create_index([("at", 1)], expireAfterSeconds=3600)  # re-timed, as collMod does
    docs.insert_one({"_id": 4, "at": embedded_retention.utcnow()})
    assert docs.find_one({"_id": 4}) is not None


def test_the_operators_keys_are_never_capped():
    """A dropped deposit key would let a retry credit twice: the operator's records stay."""
    app = make_app(IDEMPOTENCY_MAX_PER_SCOPE=3)
    api = Api(app.test_client())
    _, headers, wallet_id = api.member()
    for n in range(6):
        assert api.deposit(wallet_id, "1.00", **{"Idempotency-Key": f"dep-{n}"}).status_code == 201
    replay = api.deposit(wallet_id, "1.00", **{"Idempotency-Key": "dep-0"})
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert api.balance(headers, wallet_id) == "6.00"
