"""`make bench` on MongoDB: a throwaway database of its own, never MONGO_DB, dropped after."""
import pytest

from scripts import loadtest


class _Client:
    dropped = []

    def __init__(self, uri):
        self.uri = uri

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def drop_database(self, name):
        self.dropped.append(name)


class _Server:
    def kill(self):
        pass


@pytest.fixture
def mongodb(monkeypatch):
    started = {"runs": [], "servers": []}
    monkeypatch.setenv("MONGO_URI", "mongodb://mongo.invalid:27017/?replicaSet=rs0")
    monkeypatch.setenv("MONGO_DB", "wallet")
    monkeypatch.setattr(loadtest.subprocess, "run", lambda command, **kwargs: started["runs"].append(
        (command[-2:], kwargs["env"]["MONGO_DB"])))
    monkeypatch.setattr(loadtest.subprocess, "Popen", lambda command, **kwargs: started["servers"].append(
        kwargs["env"]["MONGO_DB"]) or _Server())
    monkeypatch.setattr(loadtest.Connection, "request", lambda self, *args, **kwargs: (200, {}))
    monkeypatch.setattr("pymongo.MongoClient", _Client)
    _Client.dropped = []
    return started


def test_the_server_runs_on_an_initialised_throwaway_database_dropped_after(mongodb):
    loadtest.start_server("--config gunicorn.conf.py", "token")
    assert loadtest.BENCH_DB.startswith("wallet_bench_")
    assert mongodb["runs"] == [(["db", "init"], loadtest.BENCH_DB)]
    assert mongodb["servers"] == [loadtest.BENCH_DB], "never MONGO_DB, production's database"
    loadtest.drop_bench_database()
    assert _Client.dropped == [loadtest.BENCH_DB]


def test_the_embedded_engine_drops_nothing(mongodb, monkeypatch):
    monkeypatch.delenv("MONGO_URI")
    loadtest.drop_bench_database()
    assert _Client.dropped == []


def test_the_floor_server_needs_no_database(mongodb):
    loadtest.start_server("--config gunicorn.conf.py", "token", "scripts.floor_app:create_app()")
    assert mongodb["runs"] == []
