"""`make bench` on MongoDB: a throwaway database of its own, never MONGO_DB, dropped after."""
import pytest

from scripts import loadtest


class _Client:
    dropped = []

    def __init__(self, uri):
        self.uri = uri

    def drop_database(self, name):
        self.dropped.append(name)

    def close(self):
        pass


@pytest.fixture
def mongodb(monkeypatch):
    runs = []
    monkeypatch.setenv("MONGO_URI", "mongodb://mongo.invalid:27017/?replicaSet=rs0")
    monkeypatch.setenv("MONGO_DB", "wallet")
    monkeypatch.setattr(loadtest.subprocess, "run", lambda command, **kwargs: runs.append(
        (command, kwargs["env"]["MONGO_DB"])))
    monkeypatch.setattr("pymongo.MongoClient", _Client)
    _Client.dropped = []
    return runs


def test_a_run_on_mongodb_gets_an_initialised_throwaway_database_dropped_after(mongodb):
    with pytest.raises(RuntimeError, match="bench failed"):
        with loadtest.throwaway_database() as name:
            assert name.startswith("wallet_bench_") and name != "wallet"
            assert mongodb == [([loadtest.sys.executable, "-m", "flask", "--app", "app", "db", "init"],
                                name)]
            assert loadtest.server_env("token", name)["MONGO_DB"] == name
            raise RuntimeError("bench failed")
    assert _Client.dropped == [name], "dropped even when the run fails"


def test_the_embedded_engine_needs_none(monkeypatch):
    monkeypatch.delenv("MONGO_URI", raising=False)
    with loadtest.throwaway_database() as name:
        assert name is None
