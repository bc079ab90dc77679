"""Idempotency records do not grow without bound on the embedded engine: a TTL, and a bound per
caller past which a keyed request is refused, never a key forgotten before its TTL."""
from datetime import timedelta

import pytest

from app.storage.embedded import engine as embedded
from app.storage.embedded import retention as embedded_retention
from tests.conftest import ENGINES, Api, make_app


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
    records = app.extensions["store"].tenant("default").collections["idempotency"]
    assert records.count_documents({}) == 1
    later(59)
    assert _refused(api, headers, wallet_id, other_id, "k1", "6.00").json["code"] == "idempotency_key_reused"
    later(61)
    # Past the TTL the key is new again: the other amount is judged on its own.
    assert _refused(api, headers, wallet_id, other_id, "k1", "6.00").json["code"] == "insufficient_funds"
    later(200)
    assert records.count_documents({}) == 0


BOUND = 5  # IDEMPOTENCY_MAX_PER_SCOPE, small so that the scenario is quick


def _transfers(store):
    return store.collections["transfers"].count_documents({"type": "transfer"})


@pytest.mark.parametrize("engine", ENGINES)
def test_a_retry_after_many_keyed_refusals_replays_the_first_transfer(engine):
    """Issue 29, finding 2: a transfer, then many keyed requests refused insufficient_funds; the
    retry of the first key paid again (the cap had dropped it). No key is forgotten before its
    TTL: past the bound (embedded engine only) a keyed request is 503 and does nothing."""
    app = make_app(engine, IDEMPOTENCY_MAX_PER_SCOPE=BOUND)
    try:
        api, store = Api(app.test_client()), app.extensions["store"].tenant("default")
        _, headers, wallet_id = api.member(balance="2.00")  # enough to pay twice
        _, _, other_id = api.member()
        first = api.transfer(headers, wallet_id, other_id, "1.00", **{"Idempotency-Key": "order-0001"})
        assert first.status_code == 201
        answers = [_refused(api, headers, wallet_id, other_id, f"k{n}") for n in range(3 * BOUND)]
        retry = api.transfer(headers, wallet_id, other_id, "1.00", **{"Idempotency-Key": "order-0001"})
        assert (retry.status_code, retry.json) == (201, first.json)
        assert retry.headers.get("Idempotent-Replayed") == "true"
        refused = [a for a in answers if a.status_code == 422]
        full = [a for a in answers if a.status_code != 422]
        assert all(a.json["code"] == "insufficient_funds" for a in refused)
        assert all(a.status_code == 503 and a.json["code"] == "idempotency_store_full"
                   and int(a.headers["Retry-After"]) >= 1 for a in full)
        bounded = store.engine == "embedded"  # MongoDB keeps every key for its TTL: no bound
        assert len(refused) == (BOUND - 1 if bounded else 3 * BOUND)
        assert answers[:len(refused)] == refused  # the bound, once reached, holds

        api.deposit(wallet_id, "5.00")
        over = api.transfer(headers, wallet_id, other_id, "2.00", **{"Idempotency-Key": "order-0002"})
        assert over.status_code == (503 if bounded else 201)
        assert api.balance(headers, wallet_id) == ("6.00" if bounded else "4.00")  # over the bound: nothing
        assert _transfers(store) == (1 if bounded else 2)
        assert api.transfer(headers, wallet_id, other_id, "1.00", **{"Idempotency-Key": "order-0001"}
                            ).headers.get("Idempotent-Replayed") == "true"
        assert [r.headers.get("Idempotent-Replayed") for r in (
            _refused(api, headers, wallet_id, other_id, f"k{n}") for n in range(len(refused)))] == [
            "true"] * len(refused)
    finally:
        if app.extensions["storage"].engine == "mongodb":
            app.extensions["storage"]._client.drop_database(app.config["MONGO_DB"])
        app.extensions["storage"].close()


def test_room_comes_back_as_keys_expire_and_retry_after_says_when(later):
    app = make_app(IDEMPOTENCY_TTL_S=600, IDEMPOTENCY_MAX_PER_SCOPE=2)
    api = Api(app.test_client())
    _, headers, wallet_id = api.member()
    _, other_headers, other_id = api.member()
    for key in ("k1", "k2"):
        assert _refused(api, headers, wallet_id, other_id, key).status_code == 422
    full = _refused(api, headers, wallet_id, other_id, "k3")
    assert full.status_code == 503 and 590 <= int(full.headers["Retry-After"]) <= 600
    assert _refused(api, other_headers, other_id, wallet_id, "theirs").status_code == 422  # per caller
    assert api.transfer(headers, wallet_id, other_id, "5.00").json["code"] == "insufficient_funds"  # no key
    later(601)
    assert _refused(api, headers, wallet_id, other_id, "k3").status_code == 422


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
