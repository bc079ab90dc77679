"""The MongoDB store against pymongo-level stand-ins: the real pymongo error types and labels.

No server: a stand-in session runs the callback the way ClientSession.with_transaction
does, and stand-in collections raise what a server would. What only a replica set
can show (the timings, the conflicts themselves) is in tests/storage/test_mongo.py.
"""
import pytest
from pymongo.errors import ExecutionTimeout, OperationFailure, ServerSelectionTimeoutError
from pymongo.read_concern import ReadConcern

from app import errors
from app.storage.schema import COLLECTIONS
from app.ledger import accounts
from app.ledger.postings import Posting, post
from app.storage.mongo import MongoStore, refusal_for


def labelled(error, *labels):
    for label in labels:
        error._add_error_label(label)
    return error


def write_conflict():
    return labelled(OperationFailure("WriteConflict", code=112), "TransientTransactionError")


class Collection:
    """Records each write; ``fail`` raises from the next write instead."""

    def __init__(self, name, log, options=None):
        self.name, self.log, self.options, self.fail = name, log, options or {}, None

    def with_options(self, **options):
        return Collection(self.name, self.log, options)

    def _write(self, op, detail, session=None):
        if self.fail is not None:
            raise self.fail
        self.log.append((op, self.name, detail))

    def find_one_and_update(self, filter, update, session=None, **kwargs):
        self._write("update", filter["_id"])
        inc = update["$inc"]
        return {"_id": filter["_id"], "balance_cents": inc["balance_cents"], "version": 1}

    def find(self, filter, projection=None, session=None):
        self.log.append(("find", self.name, None))  # reads (due holds) take no locks
        return []

    def aggregate(self, pipeline, session=None, **options):
        self.log.append(("aggregate", self.name, session is not None, options))
        return iter([])

    def index_information(self, session=None):
        self.log.append(("index_information", self.name, session is not None))
        return {}

    def insert_many(self, documents, session=None):
        self._write("insert_many", [d.get("wallet_id") for d in documents])

    def insert_one(self, document, session=None):
        self._write("insert_one", document["_id"])


class Session:
    def __init__(self, commit_error=None):
        self.commit_error = commit_error

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def with_transaction(self, callback, **options):
        for _ in range(3):  # re-run on a transient error, then give up as pymongo does
            try:
                result = callback(self)
            except OperationFailure as exc:
                last = exc
                continue
            if self.commit_error is not None:
                raise self.commit_error
            return result
        raise labelled(ExecutionTimeout(str(last), 50), *last._error_labels) from last


class Client:
    def __init__(self, commit_error=None, ping_error=None):
        self.commit_error, self.ping_error = commit_error, ping_error
        self.admin = self

    def start_session(self, **options):
        return Session(self.commit_error)

    def command(self, name):
        if self.ping_error:
            raise self.ping_error
        return {"ok": 1}


def make_store(client=None, clock=None, log=None):
    log = [] if log is None else log
    database = {name: Collection(name, log) for name in COLLECTIONS}
    kwargs = {"clock": clock} if clock else {}
    return MongoStore(client or Client(), database, COLLECTIONS, **kwargs), log


def test_a_commit_with_an_unknown_outcome_is_503_outcome_unknown():
    timed_out = labelled(ExecutionTimeout("operation exceeded time limit", 50),
                         "UnknownTransactionCommitResult")
    store, _ = make_store(Client(commit_error=timed_out))
    with pytest.raises(errors.OutcomeUnknown) as refused:
        store.transaction(lambda tx: "done")
    assert refused.value.status == 503 and "same Idempotency-Key" in refused.value.detail


def test_write_conflicts_until_the_time_cap_are_503_wallet_busy_and_counted_by_class():
    store, _ = make_store()
    store.collections["wallets"].fail = write_conflict()
    with pytest.raises(errors.WalletBusy) as refused:
        store.transaction(lambda tx: tx.wallets.find_one_and_update(
            {"_id": "wal_1"}, {"$inc": {"balance_cents": 1}}))
    assert refused.value.headers == {"Retry-After": "1"}
    assert store.write_conflicts == {"wallet": 3, "system": 0, "other": 0}
    assert store.transaction_retries == 2


def test_wallet_busy_reaches_the_client_as_503_with_retry_after():
    from app import create_app
    from tests.conftest import BASE_CONFIG
    app = create_app(dict(BASE_CONFIG, MONGO_URI=None))
    timed_out = labelled(ExecutionTimeout("x", 50), "TransientTransactionError")
    timed_out.__cause__ = write_conflict()

    @app.get("/busy")
    def busy():
        raise refusal_for(timed_out)

    response = app.test_client().get("/busy")
    assert (response.status_code, response.json["code"]) == (503, "wallet_busy")
    assert response.headers["Retry-After"] == "1"


def test_a_timeout_without_conflicts_is_database_unavailable():
    assert isinstance(refusal_for(ExecutionTimeout("slow", 50)), errors.DatabaseUnavailable)
    other = OperationFailure("duplicate", code=11000)
    assert refusal_for(other) is other


def test_system_shard_conflicts_are_counted_apart_from_wallets():
    store, _ = make_store()
    store.collections["system_accounts"].fail = write_conflict()
    with pytest.raises(errors.WalletBusy):
        store.transaction(lambda tx: tx.system_accounts.find_one_and_update(
            {"_id": "sys_bank_00"}, {"$inc": {"balance_cents": 1}}))
    assert store.write_conflicts["system"] == 3 and store.write_conflicts["wallet"] == 0


def test_reads_outside_transactions_are_majority_reads():
    store, _ = make_store()
    for name in COLLECTIONS:
        assert getattr(store.reader, name).options["read_concern"] == ReadConcern("majority")


def test_ready_survives_an_election_and_turns_unready_only_after_repeated_failures():
    now = [0.0]
    client = Client(ping_error=ServerSelectionTimeoutError("no primary"))
    store, _ = make_store(client, clock=lambda: now[0])
    answers = []
    for _ in range(6):  # a probe every 5 s: 0, 5, ... 25 s, still inside the 30 s grace
        answers.append(store.ping())
        now[0] += 5
    assert answers == [True] * 6
    assert store.ping() is False  # 30 s of failures
    client.ping_error = None
    assert store.ping() is True


def test_snapshot_too_old_is_a_clear_503():
    store, _ = make_store()

    def audit(db):
        raise OperationFailure("snapshot too old", code=239)

    with pytest.raises(errors.SnapshotTooOld) as refused:
        store.snapshot(audit)
    assert refused.value.status == 503 and "AUDIT_READ_PREFERENCE" in refused.value.detail


def test_the_snapshot_view_aggregates_in_its_session_and_reads_indexes_outside_it():
    """A snapshot session sends readConcern "snapshot" with every command, which the server
    refuses on listIndexes (the drivers' spec test snapshot-sessions-unsupported-ops)."""
    store, log = make_store()
    store.snapshot(lambda db: (db.operations.index_information(),
                               list(db.operations.aggregate([], allowDiskUse=True))))
    assert log == [("index_information", "operations", False),
                   ("aggregate", "operations", True, {"allowDiskUse": True})]


def test_post_writes_debits_first_receivers_last_and_the_journal_in_one_insert_many():
    store, log = make_store()
    record = {"_id": "tr_1", "type": "transfer"}
    postings = [Posting("wal_to", 5, "transfer_in", "wal_from"),
                Posting(accounts.shard_ids("bank")[0], -3),
                Posting("wal_from", -2, "transfer_out", "wal_to")]
    store.transaction(lambda tx: post(tx, record, postings, None))
    log = [write for write in log if write[0] != "find"]
    assert log == [("update", "wallets", "wal_from"), ("update", "system_accounts", "sys_bank_00"),
                   ("update", "wallets", "wal_to"), ("insert_many", "operations", ["wal_from", "wal_to"]),
                   ("insert_one", "transfers", "tr_1")]
