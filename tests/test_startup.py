"""Start-up on MongoDB: secrets are checked before any connection is attempted."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo.errors import OperationFailure

from app import create_app, db

ROOT = Path(__file__).resolve().parent.parent

URI = "mongodb://mongo.invalid:27017/?replicaSet=rs0"


@pytest.fixture
def no_connection(monkeypatch):
    """Fail the test if the app tries to reach MongoDB at all."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("create_app tried to connect before checking its secrets")

    monkeypatch.setattr(db, "MongoClient", refuse)
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
    assert db.hosts_of(uri) == hosts


class _ConflictingCollection:
    """Stands in for MongoDB refusing create_index with other options (IndexOptionsConflict).

    Only the branch is tested here; tests/test_mongo.py checks the real server's answer.
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
    db._ttl_index(collection, "created_at", 7200)
    assert collection.commands == [(("collMod", "idempotency"), {
        "index": {"keyPattern": {"created_at": 1}, "expireAfterSeconds": 7200}})]


def test_other_index_failures_still_stop_the_start():
    with pytest.raises(OperationFailure):
        db._ttl_index(_ConflictingCollection(code=86), "created_at", 7200)
