"""Start-up on MongoDB: secrets first, then a read-only check of what `db init` made."""
import os
import subprocess
import sys
import time
from pathlib import Path

import click
import mongomock
import pytest
from pymongo.errors import OperationFailure

from app import create_app
from app.ledger import seed
from app.storage import mongo, schema

ROOT = Path(__file__).resolve().parents[2]

URI = "mongodb://mongo.invalid:27017/?replicaSet=rs0"


@pytest.fixture
def no_connection(monkeypatch):
    """Fail the test if the app tries to reach MongoDB at all."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("create_app tried to connect before checking its secrets")

    monkeypatch.setattr(mongo, "MongoClient", refuse)
    return attempts


@pytest.mark.parametrize("present, missing", [
    ({}, "SECRET_KEY and OPERATOR_TOKEN"),
    ({"SECRET_KEY": "s"}, "OPERATOR_TOKEN"),
    ({"OPERATOR_TOKEN": "t"}, "SECRET_KEY"),
])
def test_mongodb_without_secrets_refuses_to_start(no_connection, present, missing):
    # None overrides whatever the environment of the test run holds.
    config = dict({"MONGO_URI": URI, "SECRET_KEY": None, "OPERATOR_TOKEN": None}, **present)
    with pytest.raises(RuntimeError) as refused:
        create_app(config)
    assert str(refused.value).startswith(f"set {missing} in the environment: they are required "
                                         "with MONGO_URI")
    assert no_connection == []


def test_empty_secrets_from_the_environment_refuse_too():
    """As in the container: docker-compose.yml passes ${SECRET_KEY:-}, so unset arrives as ""."""
    env = dict(os.environ, MONGO_URI=URI, SECRET_KEY="", OPERATOR_TOKEN="",
               TRANSACTION_TIMEOUT_MS="20000")
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-c", "from app import create_app; create_app()"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "RuntimeError: set SECRET_KEY and OPERATOR_TOKEN in the environment" in run.stderr
    # Connecting first would have waited for server selection (20 s) and failed differently.
    assert time.monotonic() - started < 15
    assert "ServerSelectionTimeoutError" not in run.stderr


def test_with_secrets_it_goes_on_to_connect(no_connection):
    """The check above is what stopped it: with both secrets set it tries to connect."""
    with pytest.raises(AssertionError, match="tried to connect"):
        create_app({"MONGO_URI": URI, "SECRET_KEY": "s", "OPERATOR_TOKEN": "t"})
    assert len(no_connection) == 1


@pytest.mark.parametrize("uri, hosts", [
    ("mongodb://mongo:27017/?replicaSet=rs0", "mongo:27017"),
    ("mongodb://wallet:s%40cret@a:1,b:2/wallet?replicaSet=rs0&authSource=admin", "a:1,b:2"),
    ("mongodb+srv://wallet:secret@cluster.example.com?tls=true", "cluster.example.com"),
])
def test_messages_name_the_hosts_without_credentials(uri, hosts):
    assert mongo.hosts_of(uri) == hosts


class _ConflictingCollection:
    """Stands in for MongoDB refusing create_index with other options (IndexOptionsConflict).

    Only the branch is tested here; tests/storage/test_mongo.py checks the real server's answer.
    """

    name = "idempotency"

    def __init__(self, code):
        self.code, self.commands = code, []
        self.database = self

    def create_index(self, keys, **options):
        raise OperationFailure("an index with these keys has other options", code=self.code)

    def command(self, *args, **kwargs):
        self.commands.append((args, kwargs))


def test_a_changed_ttl_is_retimed_in_place_not_refused():
    collection = _ConflictingCollection(code=85)
    schema._ttl_index(collection, "created_at", 7200)
    assert collection.commands == [(("collMod", "idempotency"), {
        "index": {"keyPattern": {"created_at": 1}, "expireAfterSeconds": 7200}})]


def test_other_index_failures_still_stop_the_start():
    with pytest.raises(OperationFailure):
        schema._ttl_index(_ConflictingCollection(code=86), "created_at", 7200)


class _Recording:
    """A mongomock database or collection that records each call that would write or build."""

    WRITES = {"create_index", "create_indexes", "drop_index", "update_one", "update_many",
              "insert_one", "insert_many", "replace_one", "delete_one", "delete_many",
              "find_one_and_update", "command"}

    def __init__(self, target, writes):
        self._target, self._writes = target, writes

    def __getitem__(self, name):
        return _Recording(self._target[name], self._writes)

    def __getattr__(self, name):
        if name in self.WRITES:
            self._writes.append(name)
        return getattr(self._target, name)


class ReplicaSetStandIn:
    """What open_store asks of a MongoClient, answered by mongomock; no server, no transactions."""

    def __init__(self):
        self._client, self.writes = mongomock.MongoClient(tz_aware=False), []
        self.admin = self

    def command(self, name, **options):
        assert name == "hello"
        return {"setName": "rs0", "isWritablePrimary": True}

    def __getitem__(self, name):
        return _Recording(self._client[name], self.writes)

    def close(self):
        pass


MONGO_CONFIG = {"MONGO_URI": URI, "SECRET_KEY": "s", "OPERATOR_TOKEN": "t", "MONGO_DB": "wallet"}


@pytest.fixture
def replica_set(monkeypatch):
    standin = ReplicaSetStandIn()
    monkeypatch.setattr(mongo, "MongoClient", lambda *args, **kwargs: standin)
    return standin


def test_on_mongodb_the_app_only_checks_and_names_what_is_missing(replica_set):
    with pytest.raises(RuntimeError) as refused:
        create_app(MONGO_CONFIG)
    message = str(refused.value)
    for missing in ("index operations (wallet_id, seq) is missing", "index idempotency (created_at) "
                    "is missing", "no schema version is recorded", "sys_bank_00 is missing"):
        assert missing in message
    assert "Run `flask --app app db init`" in message
    assert replica_set.writes == [], "no index build, no collMod, no write at boot"


def test_db_init_does_it_all_and_the_next_start_only_reads(replica_set):
    with click.Context(click.Command("init")):  # a console command starts despite what is missing
        app = create_app(MONGO_CONFIG)
    result = app.test_cli_runner().invoke(args=["db", "init"])
    assert result.exit_code == 0, result.output
    assert "database initialised" in result.output and "create_index" in replica_set.writes
    del replica_set.writes[:]
    create_app(MONGO_CONFIG)
    assert replica_set.writes == []


def test_a_changed_ttl_is_a_warning_at_boot_and_sends_no_collmod(replica_set, capsys):
    with click.Context(click.Command("init")):
        create_app(MONGO_CONFIG).test_cli_runner().invoke(args=["db", "init"])
    del replica_set.writes[:]
    create_app(dict(MONGO_CONFIG, IDEMPOTENCY_TTL_S=7200))
    assert "expires after 86400 s, IDEMPOTENCY_TTL_S says 7200" in capsys.readouterr().err
    assert replica_set.writes == [], "the API's readWrite user has no collMod (SERVER-20772)"


def test_the_embedded_engine_still_initialises_itself():
    store = create_app({"MONGO_URI": None}).extensions["storage"]
    assert schema.check_initialised(store, 24 * 3600, seed=seed.SEED) == ([], [])
