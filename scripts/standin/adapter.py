"""Every change the wire stand-in makes to mongoeco 4.11.0's server, each with the MongoDB
behaviour it restores and where MongoDB documents it.

What it restores, each class saying how and where MongoDB documents it:
- ReplicaSetHello: hello as the primary of the one-member replica set rs0.
- TransactionRules, WriteLedger, FaithfulExecutor: MongoDB's transaction rules (WriteConflict
  112 labelled TransientTransactionError at the write, NoSuchTransaction, aborts on errors).
- SnapshotReads: readConcern "snapshot" outside a transaction, at one atClusterTime.
- Int64CursorIds: 64-bit cursor ids (the Node.js driver under mongosh needs them).
- IndexCatalog: createIndexes conflicts answered with MongoDB's codes (85 IndexOptionsConflict,
  86 IndexKeySpecsConflict) and no duplicate index; collMod of an index's expireAfterSeconds
  and hidden, which mongoeco lacks.
- --standalone (StandInServer(standalone=True)): mongoeco's own hello, a standalone mongod's,
  and a standalone's refusal of any txnNumber (IllegalOperation 20).

`--plain` keeps only ReplicaSetHello, the least a driver needs to connect with
?replicaSet=rs0 and run transactions; tests/storage/test_standin_conformance.py shows what plain
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
- collMod changes an index's expireAfterSeconds and hidden only; its other options
  (validator, views, unique conversion ...) are refused with CommandNotSupported (115), and
  it does not wait for open transactions as MongoDB's exclusive collection lock does.
- Two indexes on one key that differ in unique, sparse, collation or partialFilterExpression
  coexist on MongoDB; mongoeco refuses the second (an error with no code). Partial filters are
  compared as written, not as normalised match expressions.
- listIndexes lists no "v" and "unique": false on every index; MongoDB lists v: 2 and unique
  only when true.
"""
import dataclasses
import decimal
import itertools
import math
import time

from bson import Int64, ObjectId
from mongoeco._types.indexes import is_ordered_index_spec
from mongoeco.core.bson_scalars import BsonDecimal128, BsonDouble, BsonInt32, BsonInt64
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

    def __init__(self, *, host, port, plain=False, standalone=False):
        super().__init__(host=host, port=port)
        self._plain = plain
        if not plain:
            self._surface = dataclasses.replace(
                self._surface, supported_commands=self._surface.supported_commands + ("collMod",))
            self._cursor_store = Int64CursorIds()
            self._session_store = TransactionRules(self._client._engine)
            self._executor = FaithfulExecutor(self._client, self._cursor_store, self._session_store,
                                              surface=self._surface, auth=self._auth, standalone=standalone)
        if not standalone:  # mongoeco's own hello is a standalone mongod's
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
    """Runs each command with the transaction rules around it, snapshot reads, and MongoDB's
    index catalogue rules (createIndexes conflicts, collMod)."""

    def __init__(self, client, cursor_store, session_store, standalone=False, **kwargs):
        super().__init__(client, cursor_store, session_store, **kwargs)
        self._snapshots, self._standalone = SnapshotReads(client), standalone
        self._catalog = IndexCatalog(client._engine)

    def _build_request_context(self, body, **kwargs):
        return super()._build_request_context(plain_cursor_ids(body), **kwargs)

    async def execute_prepared(self, context):
        body = context.raw_body
        if self._standalone and "txnNumber" in body:
            # A standalone mongod has no sessions' transaction table: "Transaction numbers are
            # only allowed on a replica set member or mongos" (IllegalOperation), for a
            # transaction or a retryable write alike; plain mongoeco runs them.
            raise failure(20, "IllegalOperation", "Transaction numbers are only allowed on a replica "
                          "set member or mongos")
        if context.command_name == "collMod":
            return await self._catalog.coll_mod(context.db_name, context.command_document)
        if context.command_name == "createIndexes":
            await self._catalog.check_create(context.db_name, context.command_document)
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


# Options of an index spec that MongoDB leaves out of the comparison of two specs' other options:
# the key and name, creation-time fields, and the options compared on their own because they
# distinguish an index (unique, sparse, collation, partialFilterExpression, wildcardProjection).
# mongo/db/local_catalog/index_descriptor.cpp, populateOptionsMapForEqualityCheck.
SIGNATURE_OPTIONS = ("unique", "sparse", "collation", "partialFilterExpression", "wildcardProjection")
NOT_COMPARED = {"key", "name", "v", "ns", "textIndexVersion", "2dsphereIndexVersion", "background",
                "dropDups", *SIGNATURE_OPTIONS}
GENERIC_ARGUMENTS = {"writeConcern", "comment", "maxTimeMS", "readConcern", "apiVersion", "apiStrict",
                     "apiDeprecationErrors"}
COLL_MOD_NOT_HERE = ("unique", "prepareUnique", "forceNonUnique")
INT32_MAX = 2**31 - 1


def index_options_conflict(message):
    return failure(85, "IndexOptionsConflict", message)


def invalid_options(message):
    return failure(72, "InvalidOptions", message)


class IndexCatalog:
    """createIndexes conflicts and collMod of an index, as MongoDB answers them.

    createIndexes: an index of the requested name whose key or distinguishing options
    (unique, sparse, collation, partialFilterExpression) differ is IndexKeySpecsConflict (86);
    of the same name with only other options different (expireAfterSeconds, say) it is
    IndexOptionsConflict (85), "An equivalent index already exists with the same name but
    different options"; the same key and distinguishing options under another name is 85 too
    ("Index already exists with a different name: ..."). Plain mongoeco answers the first
    two with 86, the third with a codeless error when the options differ, and builds a
    second, duplicate index when they do not. MongoDB's IndexCatalogImpl::
    _doesSpecConflictWithExisting and IndexDescriptor::compareIndexOptions; manual:
    reference/command/createIndexes/ and reference/method/db.collection.createIndex/.

    collMod (absent from plain mongoeco: "unsupported wire command") changes an index's
    expireAfterSeconds or hidden, found by keyPattern or name, and answers
    expireAfterSeconds_old (if it was a TTL index), expireAfterSeconds_new, hidden_old and
    hidden_new (if it changed); NamespaceNotFound (26) for a missing collection,
    IndexNotFound (27) for a missing index, InvalidOptions (72) for a bad request (manual:
    reference/command/collMod/, "Change Index Properties"; mongo/db/catalog/coll_mod.cpp
    and coll_mod_index.cpp).
    """

    def __init__(self, engine):
        self._engine = engine

    async def check_create(self, db_name, command):
        existing = await self._engine.list_indexes(db_name, command["createIndexes"])
        for spec in command.get("indexes") or ():
            if isinstance(spec, dict) and isinstance(spec.get("name"), str) and isinstance(
                    spec.get("key"), dict) and key_of(spec) != [("_id", 1)]:
                conflict_with_existing(spec, existing)

    async def coll_mod(self, db_name, command):
        coll_name, change = command["collMod"], command.get("index")
        if coll_name not in await self._engine.list_collections(db_name):
            raise failure(26, "NamespaceNotFound", "ns does not exist")
        others = [name for name in command if name not in ("collMod", "index", *GENERIC_ARGUMENTS)]
        if change is None and not others:
            return {"ok": 1.0}  # nothing to change: a no-op on MongoDB too
        if change is not None and not isinstance(change, dict):
            raise failure(14, "TypeMismatch", "BSON field 'collMod.index' is the wrong type, expected "
                          "type 'object'")
        if others or any(name in change for name in COLL_MOD_NOT_HERE):
            # Not faithful: MongoDB has these (validators, views, unique conversion ...).
            raise failure(115, "CommandNotSupported", "the wire stand-in's collMod changes an index's "
                          "expireAfterSeconds or hidden only (scripts/standin/adapter.py)")
        expire, hidden = parse_coll_mod_index(change)
        index = await self._find(db_name, coll_name, change)
        reply, changes = {}, {}
        if expire is not None:
            check_ttl_target(index)
            if index.get("expireAfterSeconds") is not None:
                reply["expireAfterSeconds_old"] = Int64(plain_number(index["expireAfterSeconds"]))
            reply["expireAfterSeconds_new"] = Int64(expire)
            changes["expire_after_seconds"] = expire
        if hidden is not None and hidden != bool(index.get("hidden")):
            if index["name"] == "_id_":
                raise failure(2, "BadValue", "can't hide _id index")
            reply.update(hidden_old=not hidden, hidden_new=hidden)
            changes["hidden"] = hidden
        await self._replace(db_name, coll_name, index["name"], changes)
        return dict(reply, ok=1.0)

    async def _find(self, db_name, coll_name, change):
        indexes = await self._engine.list_indexes(db_name, coll_name)
        namespace = f"{db_name}.{coll_name}"
        if "name" in change:
            found = [index for index in indexes if index["name"] == change["name"]]
            wanted = change["name"]
        else:
            found = [index for index in indexes if key_of(index) == key_of({"key": change["keyPattern"]})]
            wanted = shell(change["keyPattern"])
        if len(found) > 1:
            raise failure(181, "AmbiguousIndexKeyPattern", f"index keyPattern {wanted} matches {len(found)} "
                          f"indexes, must use index name. Conflicting indexes: {shell(found[0])}, "
                          f"{shell(found[1])}")
        if not found:
            raise failure(27, "IndexNotFound", f"cannot find index {wanted} for ns {namespace}")
        return found[0]

    async def _replace(self, db_name, coll_name, index_name, changes):
        """The index's record with ``changes``, and its keys and expiry dates rebuilt, under the
        collection's lock as mongoeco's own index builds take it."""
        engine = self._engine
        if not changes:
            return
        async with engine._get_lock(db_name, coll_name):
            records = engine._indexes[db_name][coll_name]
            (position,) = [i for i, record in enumerate(records) if record.name == index_name]
            with engine._collection_state_rollback_locked(
                    db_name, coll_name, storage=engine._storage, indexes=engine._indexes,
                    index_data=engine._index_data, search_indexes=engine._search_indexes,
                    collections=engine._collections, options=engine._collection_options):
                records[position] = dataclasses.replace(records[position], **changes)
                if is_ordered_index_spec(records[position].key):
                    engine._rebuild_index_data_locked(db_name, coll_name, records[position])


def conflict_with_existing(spec, existing):
    """Raise MongoDB's error if ``spec`` conflicts with an existing index (none if identical)."""
    (same_name,) = [index for index in existing if index["name"] == spec["name"]] or [None]
    if same_name is not None:
        comparison = compare_indexes(spec, same_name)
        if comparison == "different":
            raise failure(86, "IndexKeySpecsConflict", "An existing index has the same name as the requested "
                          "index. When index names are not specified, they are auto generated and can cause "
                          "conflicts. Please refer to our documentation. Requested index: "
                          f"{shell_spec(spec)}, existing index: {shell_spec(same_name)}")
        if comparison == "equivalent":
            raise index_options_conflict("An equivalent index already exists with the same name but "
                                         f"different options. Requested index: {shell_spec(spec)}, "
                                         f"existing index: {shell_spec(same_name)}")
        return
    for index in existing:
        comparison = compare_indexes(spec, index)
        if comparison == "equivalent":
            raise index_options_conflict("An equivalent index already exists with a different name and "
                                         f"options. Requested index: {shell_spec(spec)}, existing index: "
                                         f"{shell_spec(index)}")
        if comparison == "identical":
            raise index_options_conflict(f"Index already exists with a different name: {index['name']}")


def compare_indexes(candidate, existing):
    """"different", "equivalent" (same key and distinguishing options, other options differ)
    or "identical", as IndexDescriptor::compareIndexOptions decides."""
    if key_of(candidate) != key_of(existing):
        return "different"
    if any(bool(candidate.get(name)) != bool(existing.get(name)) for name in ("unique", "sparse")):
        return "different"
    if any(plain_value(candidate.get(name)) != plain_value(existing.get(name))
           for name in ("collation", "partialFilterExpression", "wildcardProjection")):
        return "different"
    return "identical" if other_options(candidate) == other_options(existing) else "equivalent"


def other_options(spec):
    # mongoeco stores no "hidden: false"; MongoDB keeps what was asked, which creates no
    # conflict in practice, so an explicit false counts as absent here.
    return {name: plain_value(value) for name, value in spec.items()
            if name not in NOT_COMPARED and not (name == "hidden" and value is False)}


def key_of(spec):
    return [(field, plain_number(direction)) for field, direction in spec["key"].items()]


def parse_coll_mod_index(change):
    """(expireAfterSeconds or None, hidden or None) of collMod's index document, or its error."""
    for name in change:
        if name not in ("name", "keyPattern", "expireAfterSeconds", "hidden"):
            raise invalid_options(f"Unrecognized field '{name}' in 'index' option")
    if "name" in change and "keyPattern" in change:
        raise invalid_options("Cannot specify both key pattern and name.")
    if "name" not in change and "keyPattern" not in change:
        raise invalid_options("Must specify either index name or key pattern.")
    if "name" in change and not isinstance(change["name"], str):
        raise invalid_options("Index name must be a string.")
    if "keyPattern" in change and not isinstance(change["keyPattern"], dict):
        raise invalid_options("Key pattern must be an object.")
    if "expireAfterSeconds" not in change and "hidden" not in change:
        raise invalid_options("no expireAfterSeconds, hidden, unique, or prepareUnique field")
    hidden = change.get("hidden")
    if hidden is not None and not isinstance(hidden, bool):
        raise invalid_options("hidden field must be a boolean")
    return (ttl_seconds(change["expireAfterSeconds"]) if "expireAfterSeconds" in change else None), hidden


def ttl_seconds(value):
    """expireAfterSeconds as a whole number of seconds (a double is truncated, as safeNumberLong
    does), or index_key_validate::validateExpireAfterSeconds's refusal."""
    number = plain_number(value)
    if isinstance(number, bool) or not isinstance(number, (int, float, decimal.Decimal)):
        raise invalid_options("expireAfterSeconds field must be a number")
    if isinstance(number, (float, decimal.Decimal)) and not math.isfinite(number):
        raise invalid_options("TTL index 'expireAfterSeconds' option must not be NaN")
    seconds = int(number)
    if seconds < 0:
        raise invalid_options("TTL index 'expireAfterSeconds' option cannot be less than 0")
    if seconds > INT32_MAX:
        raise invalid_options("TTL index 'expireAfterSeconds' option must be within an acceptable range, "
                              "try a lower number")
    return seconds


def check_ttl_target(index):
    """collMod may make a single-field index a TTL index, but never _id's or a compound one."""
    if index.get("expireAfterSeconds") is not None:
        return
    if index["name"] == "_id_":
        raise invalid_options("the _id field does not support TTL indexes")
    if len(index["key"]) != 1:
        raise invalid_options("TTL indexes are single-field indexes, compound indexes do not support TTL")


def plain_number(value):
    if isinstance(value, (BsonInt32, BsonInt64, BsonDouble, BsonDecimal128)):
        return value.value
    return value


def plain_value(value):
    """A decoded BSON value with mongoeco's numeric wrappers unwrapped, for comparison."""
    if isinstance(value, dict):
        return {name: plain_value(item) for name, item in value.items()}
    if isinstance(value, list):
        return [plain_value(item) for item in value]
    return plain_number(value)


def shell_spec(spec):
    """An index spec as MongoDB prints it in its errors: v first, then key, name and options."""
    shown = {"v": 2, "key": spec["key"], "name": spec["name"]}
    shown.update((name, value) for name, value in spec.items()
                 if name not in ("v", "key", "name", "ns") and not (name == "unique" and value is False))
    return shell(shown)


def shell(value):
    """A value in the shell notation of MongoDB's messages: { a: 1, b: "x" }."""
    value = plain_number(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{name}: {shell(item)}" for name, item in value.items()) + " }" \
            if value else "{}"
    if isinstance(value, list):
        return "[ " + ", ".join(shell(item) for item in value) + " ]" if value else "[]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
