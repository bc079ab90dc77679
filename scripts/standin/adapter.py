"""Every change the wire stand-in makes to mongoeco 4.11.0's server, each with the MongoDB
behaviour it restores and where MongoDB documents it.

`--plain` keeps only ReplicaSetHello, the least a driver needs to connect with
?replicaSet=rs0 and run transactions; tests/test_standin_conformance.py shows what plain
mongoeco gets wrong. The classes reach into mongoeco's private wire classes: the version is
pinned in scripts/standin/requirements.txt, and the conformance suite is what re-checks it.

Stricter than MongoDB, knowingly (mongoeco's engine cannot do better without a rewrite):
- A commit installs its snapshot's copy of every collection it wrote, so mongoeco refuses it
  when *anything* committed since its snapshot, and that rule stays (answered as MongoDB's
  WriteConflict). MongoDB detects conflicts per document under snapshot isolation: two
  transactions that each read a document the other writes both commit there (write skew),
  and transactions on different documents never conflict. Here they do, so write skew is
  hidden (a unit of work that decides on a document it does not write passes here and can
  be wrong on MongoDB), and threads on one hot document retry far more than on MongoDB.
Not faithful, and not fixable here:
- A write outside a transaction to a document that an open transaction has written goes
  through at once; on MongoDB it waits for the transaction to end. The transaction then
  loses instead (WriteConflict at its next write of that document, or at commit).
- No oplog or change streams; retryable writes are not deduplicated (a retried write is
  applied again); write concern is accepted and ignored (one member, in memory).
"""
import dataclasses
import itertools
import time

from bson import Int64, ObjectId
from mongoeco.errors import OperationFailure
from mongoeco.types import Timestamp
from mongoeco.wire._session_identity import wire_session_key
from mongoeco.wire.cursors import WireCursorStore
from mongoeco.wire.executor import WireCommandExecutor
from mongoeco.wire.handshake import WireHandshakeService
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer
from mongoeco.wire.sessions import WireSessionStore

SET_NAME = "rs0"
TRANSIENT = "TransientTransactionError"
TRANSACTION_END = ("commitTransaction", "abortTransaction")
SNAPSHOT_HISTORY_S = 300  # MongoDB's minSnapshotHistoryWindowInSeconds default


def failure(code, name, message, transient=False):
    """A command error as mongod sends it: code, codeName and, if transient, the label."""
    return OperationFailure(message, code=code, details={"codeName": name},
                            error_labels=(TRANSIENT,) if transient else ())


def write_conflict():
    return failure(112, "WriteConflict", "WriteConflict error: this operation conflicted with "
                   "another operation. Please retry your operation or multi-document transaction.",
                   transient=True)


def no_such_transaction(number):
    return failure(251, "NoSuchTransaction", f"Transaction with txnNumber {number} has been "
                   "aborted or was never started on this session", transient=True)


def transaction_of(body):
    """(server session, txnNumber) of a command; mongoeco decodes the long as its BsonInt64."""
    return wire_session_key(body["lsid"]), plain_int(body["txnNumber"])


class StandInServer(AsyncMongoEcoProxyServer):
    """mongoeco's wire server with this module's classes in place of its own."""

    def __init__(self, *, host, port, plain=False):
        super().__init__(host=host, port=port)
        self._plain = plain
        if not plain:
            self._cursor_store = Int64CursorIds()
            self._session_store = TransactionRules(self._client._engine)
            self._executor = FaithfulExecutor(self._client, self._cursor_store, self._session_store,
                                              surface=self._surface, auth=self._auth)
        self._executor._handlers._handshake = ReplicaSetHello(self._client.mongodb_dialect,
                                                              self._surface, self)

    async def start(self):
        address = await super().start()
        if not self._plain:
            self._session_store.ledger.start()
        return address


class ReplicaSetHello(WireHandshakeService):
    """hello answers as the primary of the one-member replica set rs0 (kept by --plain).

    A driver given ?replicaSet=rs0 uses only members that name that set, and transactions
    need a replica set: https://www.mongodb.com/docs/manual/reference/command/hello/ and
    https://www.mongodb.com/docs/manual/core/transactions-production-consideration/#availability
    """

    def __init__(self, dialect, surface, server):
        super().__init__(dialect, surface=surface)
        self._server, self._process_id = server, ObjectId()

    def build_hello_response(self, **kwargs):
        response = super().build_hello_response(**kwargs)
        me = f"{self._server.address.host}:{self._server.address.port}"
        response.update(setName=SET_NAME, setVersion=1, hosts=[me], primary=me, me=me,
                        secondary=False, electionId=ObjectId("7fffffff0000000000000001"),
                        topologyVersion={"processId": self._process_id, "counter": Int64(0)})
        return response


class Int64CursorIds(WireCursorStore):
    """Cursor ids go out as 64-bit integers, 0 included: MongoDB's cursor.id is a long
    (https://www.mongodb.com/docs/manual/reference/command/getMore/ shows
    "id" : NumberLong(...)), and the Node.js driver under mongosh refuses an int32 id."""

    def materialize_command_result(self, *args, **kwargs):
        return long_cursor_id(super().materialize_command_result(*args, **kwargs))

    def get_more(self, *args, **kwargs):
        return long_cursor_id(super().get_more(*args, **kwargs))


def long_cursor_id(result):
    cursor = result.get("cursor")
    if isinstance(cursor, dict) and "id" in cursor:
        cursor["id"] = Int64(cursor["id"])
    return result


def plain_cursor_ids(body):
    """getMore and killCursors take the long ids back ("getMore": <long>); mongoeco decodes a
    long as its BsonInt64, which its own checks then refuse as "not an integer"."""
    if "getMore" in body:
        body["getMore"] = plain_int(body["getMore"])
    if "killCursors" in body and isinstance(body.get("cursors"), list):
        body["cursors"] = [plain_int(cursor_id) for cursor_id in body["cursors"]]
    return body


def plain_int(value):
    return int(getattr(value, "value", value))


@dataclasses.dataclass
class Transaction:
    number: int
    start_sequence: int
    state: str = "open"  # then "committed" or "aborted"
    written: set = dataclasses.field(default_factory=set)
    changes_seen: int = 0


class TransactionRules(WireSessionStore):
    """A server session's transactions, by txnNumber, with MongoDB's answers.

    Plain mongoeco keeps one open-or-not flag per session: a statement whose transaction
    has aborted runs outside any transaction, a new startTransaction continues a
    transaction left open (a refused commit leaves it open), a write outside any
    transaction joins one left open and is never committed, errors never abort, and
    commitTransaction answers ok whatever it commits.
    Drivers' transactions spec (source/transactions/transactions.md in
    github.com/mongodb/specifications): a new transaction aborts the one left open
    ("Drivers ignore all abortTransaction errors"); statements and the commit of an
    aborted transaction get NoSuchTransaction ("Handling command errors"); a commit may
    be sent again and then succeeds again ("Retrying commitTransaction").
    """

    def __init__(self, engine):
        super().__init__()
        self._engine, self.ledger = engine, WriteLedger(engine)
        self._transactions = {}  # wire session key -> its last Transaction

    def resolve_for_command(self, client, body, *, capability):
        session = super().resolve_for_command(client, body, capability=capability)
        if session is not None and body.get("autocommit") is not False and session.transaction_active:
            return None  # a statement outside the transaction runs outside it, as on MongoDB
        return session

    def _apply_transaction_metadata(self, session, body):
        if any(name in body for name in TRANSACTION_END) or "txnNumber" not in body:
            return
        key, number = transaction_of(body)
        if body.get("autocommit") is not False:
            self._retryable_write(key, session, number)
        elif body.get("startTransaction") is True:
            self._start(key, session, number)
        else:
            self.open_transaction(key, number)

    def _start(self, key, session, number):
        last = self._transactions.get(key)
        if last is not None and number <= last.number:
            raise failure(225, "TransactionTooOld", f"txnNumber {number} is not above {last.number}, "
                          "the last one on this session")
        if session.transaction_active:
            session.abort_transaction()
        session.start_transaction()
        self._transactions[key] = Transaction(number, self._engine._commit_sequence)

    def _retryable_write(self, key, session, number):
        """A retryable write's higher txnNumber ends the transaction left open on the session."""
        last = self._transactions.get(key)
        if last is not None and last.state == "open" and number > last.number:
            self.abort(session, last)

    def open_transaction(self, key, number):
        """The open transaction `number` of the session, or MongoDB's error for any other."""
        transaction = self._transactions.get(key)
        if transaction is not None and transaction.number == number:
            if transaction.state == "open":
                return transaction
            if transaction.state == "committed":
                raise failure(256, "TransactionCommitted", f"Transaction {number} has been committed")
        raise no_such_transaction(number)

    def commit_transaction(self, body):
        key, number = transaction_of(body)
        done = self._transactions.get(key)
        if done is not None and done.number == number and done.state == "committed":
            return {"ok": 1.0}  # a retried commit of a committed transaction succeeds again
        transaction, session = self.open_transaction(key, number), self._require_session(body)
        try:
            session.commit_transaction()
        except OperationFailure as error:
            self.abort(session, transaction)
            if str(error).startswith("Write conflict"):
                raise write_conflict() from error
            raise
        transaction.state = "committed"
        return {"ok": 1.0}

    def abort_transaction(self, body):
        key, number = transaction_of(body)
        self.abort(self._require_session(body), self.open_transaction(key, number))
        return {"ok": 1.0}

    def abort(self, session, transaction):
        if session.transaction_active:
            session.abort_transaction()
        transaction.state = "aborted"

    def end_sessions(self, session_specs):
        for spec in session_specs if isinstance(session_specs, list) else ():
            self._transactions.pop(wire_session_key(spec), None)
        return super().end_sessions(session_specs)

    def check_write_conflicts(self, session, transaction):
        """WriteConflict at the write, as on MongoDB: the documents this statement wrote were
        written by another open transaction, or committed since this one's snapshot
        (https://www.mongodb.com/docs/manual/core/transactions-production-consideration/
        #in-progress-transactions-and-write-conflicts)."""
        pending = self._engine._mvcc_states[session.session_id].pending_changes
        written = {document_key(change) for change in pending[transaction.changes_seen:] if change}
        transaction.changes_seen = len(pending)
        self.ledger.catch_up()
        others = [other.written for other in self._transactions.values()
                  if other is not transaction and other.state == "open"]
        if any(self.ledger.written_since(key, transaction.start_sequence)
               or any(key in other for other in others) for key in written):
            self.abort(session, transaction)
            raise write_conflict()
        transaction.written |= written


def document_key(change):
    return change["db_name"], change["coll_name"], wire_session_key(change["document_key"])


class WriteLedger:
    """The commit sequence of each document's last committed write, read from the engine's
    change log (a gap in it, or a log that outran us, counts as a write of everything)."""

    CONSUMER = "standin-write-ledger"

    def __init__(self, engine):
        self._engine, self._last_write, self._everything = engine, {}, 0

    def start(self):
        self._engine.register_change_consumer(self.CONSUMER)

    def catch_up(self):
        try:
            self._engine.dispatch_committed_changes(self.CONSUMER, self._record)
        except OperationFailure:  # the log was pruned past us
            self._engine.unregister_change_consumer(self.CONSUMER)
            self.start()
            self._everything = self._engine._commit_sequence

    def _record(self, change):
        if change.payload is None:
            self._everything = change.sequence
        else:
            self._last_write[document_key(change.payload)] = change.sequence

    def written_since(self, key, sequence):
        return max(self._last_write.get(key, 0), self._everything) > sequence


class FaithfulExecutor(WireCommandExecutor):
    """Runs each command with the transaction rules around it, and snapshot reads."""

    def __init__(self, client, cursor_store, session_store, **kwargs):
        super().__init__(client, cursor_store, session_store, **kwargs)
        self._snapshots = SnapshotReads(client)

    def _build_request_context(self, body, **kwargs):
        return super()._build_request_context(plain_cursor_ids(body), **kwargs)

    async def execute_prepared(self, context):
        body = context.raw_body
        statement = body.get("autocommit") is False and not any(name in body for name in TRANSACTION_END)
        if statement and context.session is not None:  # getMore and killCursors bind no session
            return await self._in_transaction(context)
        read_concern = context.command_document.get("readConcern")
        if isinstance(read_concern, dict) and read_concern.get("level") == "snapshot":
            return await self._snapshots.read(context, super().execute_prepared)
        return await super().execute_prepared(context)

    async def _in_transaction(self, context):
        """Any error inside a transaction aborts it, a write error included: "If any operation
        in the transaction fails, the transaction aborts and all data changes made in the
        transaction are discarded" (production considerations, "In-progress Transactions and
        Stale Reads"); the drivers' spec names DuplicateKey as an error that aborts it."""
        rules, session = self._session_store, context.session
        transaction = rules.open_transaction(*transaction_of(context.raw_body))
        try:
            result = await super().execute_prepared(context)
        except Exception:
            rules.abort(session, transaction)
            raise
        if result.get("writeErrors"):
            rules.abort(session, transaction)
        else:
            rules.check_write_conflicts(session, transaction)
        return result


class SnapshotReads:
    """readConcern "snapshot" outside a transaction reads one point in time, named by
    atClusterTime; plain mongoeco ignores it and reads the latest data
    (https://www.mongodb.com/docs/manual/reference/read-concern-snapshot/
    #read-concern-and-atclustertime). Each point is an engine snapshot kept for MongoDB's
    default minSnapshotHistoryWindowInSeconds; an older one is SnapshotTooOld."""

    def __init__(self, client):
        self._client, self._points, self._increments = client, {}, itertools.count(1)

    async def read(self, context, execute):
        session, at = self._session_at(context.command_document["readConcern"].get("atClusterTime"))
        command = {k: v for k, v in context.command_document.items() if k != "readConcern"}
        result = await execute(dataclasses.replace(context, session=session, command_document=command))
        target = result["cursor"] if isinstance(result.get("cursor"), dict) else result
        target["atClusterTime"] = at
        return result

    def _session_at(self, at):
        self._forget_old()
        if at is None:
            at = Timestamp(int(time.time()), next(self._increments))
            session = self._client.start_session()
            session.start_transaction()
            self._points[(at.time, at.inc)] = (session, time.monotonic())
        elif (at.time, at.inc) not in self._points:
            raise failure(239, "SnapshotTooOld", f"Read timestamp {at} is older than the oldest "
                          "available timestamp")
        return self._points[(at.time, at.inc)][0], at

    def _forget_old(self):
        horizon = time.monotonic() - SNAPSHOT_HISTORY_S
        for point, (session, taken) in list(self._points.items()):
            if taken < horizon:
                session.close()
                del self._points[point]
