"""A pymongo-level stand-in: no server, but pymongo's own retry loop and real error types.

``StandInSession.with_transaction`` *is* pymongo's ``ClientSession.with_transaction``
(the function itself, run on this object): its retry rules, backoff, 120 s limit and
``pymongo.timeout`` checks are the driver's, not ours. What a server would answer
is scripted: the errors are the real classes, with the labels and codes a server
sends. It proves our handling of those answers, never that a server sends them:
that is tests/storage/test_mongo.py's job on a replica set.
"""
from pymongo.errors import OperationFailure
from pymongo.synchronous.client_session import ClientSession


def write_conflict():
    """What a second transaction writing the same document gets (code 112, transient)."""
    return OperationFailure("WriteConflict error: this operation conflicted with another one",
                            code=112, details={"code": 112, "codeName": "WriteConflict",
                                               "errorLabels": ["TransientTransactionError"]})


def commit_time_limit_passed():
    """What commitTransaction answers past maxCommitTimeMS (labelled as pymongo labels it)."""
    return OperationFailure("operation exceeded time limit", code=50, details={
        "code": 50, "codeName": "MaxTimeMSExpired", "errorLabels": ["UnknownTransactionCommitResult"]})


def snapshot_too_old():
    return OperationFailure("Read timestamp is older than the oldest available timestamp", code=239,
                            details={"code": 239, "codeName": "SnapshotTooOld"})


class StandInSession:
    """A session whose commit answers are scripted; every call is recorded."""

    with_transaction = ClientSession.with_transaction  # pymongo's loop, unchanged

    def __init__(self, client, commit_errors=()):
        self.client, self.commit_errors, self._active = client, list(commit_errors), False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def in_transaction(self):
        return self._active

    def start_transaction(self, read_concern=None, write_concern=None, read_preference=None,
                          max_commit_time_ms=None):
        self.client.calls.append(("start_transaction", read_concern.level, write_concern.document,
                                  read_preference.name))
        self._active = True

    def abort_transaction(self):
        self.client.calls.append(("abort_transaction",))
        self._active = False

    def commit_transaction(self):
        self.client.calls.append(("commit_transaction",))
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self._active = False


class StandInClient:
    """start_session, admin.command and close, each recorded; answers are scripted."""

    def __init__(self, commit_errors=(), ping_errors=()):
        self.calls, self.closed = [], False
        self._commit_errors, self.ping_errors = list(commit_errors), list(ping_errors)
        self.admin = self

    def start_session(self, **options):
        self.calls.append(("start_session", options))
        return StandInSession(self, self._commit_errors)

    def command(self, name, **options):
        self.calls.append(("command", name, options))
        if self.ping_errors:
            error = self.ping_errors.pop(0)
            if error is not None:
                raise error
        return {"ok": 1}

    def close(self):
        self.closed = True


class StandInCollection:
    """A collection whose writes raise the scripted errors in turn, then succeed."""

    def __init__(self, name, errors=()):
        self.name, self.errors, self.calls = name, list(errors), []

    def _answer(self, method, args, kwargs):
        self.calls.append((method, args, kwargs))
        if self.errors:
            raise self.errors.pop(0)
        return {"_id": "x"}

    def find_one_and_update(self, *args, **kwargs):
        return self._answer("find_one_and_update", args, kwargs)

    def find_one(self, *args, **kwargs):
        return self._answer("find_one", args, kwargs)

    def with_options(self, **options):
        self.calls.append(("with_options", (), options))
        return self
