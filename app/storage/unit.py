"""The unit of work as the rest of the app sees it: ``Store`` and ``Collections``.

Both engines offer one interface (``transaction``, ``atomic``, ``read``,
``snapshot``, ``ping``, ``close``, ``drop``): ``EmbeddedStore``
(app/storage/embedded) is a process-wide lock plus an undo log, ``MongoStore``
(app/storage/mongo.py) a multi-document transaction per unit of work. Code above
storage sees collections of one unit, never which engine serves them; what it must
know of an engine is a property of ``Store`` (``in_process``, ``settle_ms``).
"""
ACCOUNT_CLASSES = ("wallet", "system", "other")
# The calls that never write: a unit's wrapper counts the others (for ``rollback_to``).
READS = frozenset(("find", "find_one", "count_documents", "aggregate", "index_information"))


class StoreFull(Exception):
    """A store bounded in memory refuses a new document where it would be stored (under the
    write's own lock, so no count read first can race it). ``retry_after_s``: when room is
    expected (the oldest document of the full group expires), or None if unknown."""

    def __init__(self, most, retry_after_s=None):
        super().__init__(f"at most {most} documents of this group are kept")
        self.most, self.retry_after_s = most, retry_after_s


class Collections:
    """The collections as one unit of work (or one read) sees them: ``view.wallets`` ...

    ``savepoint()`` marks a point in the unit; ``rollback_to(mark)`` undoes what was written
    since and returns True, or returns False when it cannot (MongoDB has no savepoints
    inside a transaction, so there it succeeds only when nothing was written since the mark):
    the caller must then abort the whole unit.
    """

    def __init__(self, collections, savepoint=None, rollback_to=None):
        self.__dict__.update(collections)
        if savepoint is not None:  # a unit of work's; a plain view holds its collections only
            self.savepoint, self.rollback_to = savepoint, rollback_to

    def savepoint(self):
        return None

    def rollback_to(self, mark):
        return False


class LazyCollections(Collections):
    """Collections wrapped when first used: a unit names a few of the many, and each wrapper
    made per unit of work (a session, a tenant's filter) is CPU on every request."""

    def __init__(self, source, wrap=None, savepoint=None, rollback_to=None):
        """``source``: name -> collection; ``wrap`` None: each taken as it is, at once."""
        if wrap is None:
            super().__init__(source, savepoint, rollback_to)
            return
        super().__init__({}, savepoint, rollback_to)
        self.__dict__["_source"], self.__dict__["_wrap_one"] = source, wrap

    def __getattr__(self, name):  # only for names not wrapped yet
        source = self.__dict__.get("_source", {})
        if name not in source:
            raise AttributeError(name)
        wrapped = self.__dict__[name] = self._wrap_one(source[name])
        return wrapped


def account_class(collection_name):
    """The class a written document belongs to, for the conflict metric."""
    return {"wallets": "wallet", "system_accounts": "system"}.get(collection_name, "other")


class Store:
    """The one interface both engines offer."""

    engine = None  # a name to show (GET /health, the banner), never to branch on outside storage
    # True when the data lives in this process (the embedded engine): another process
    # (a console command, a second worker) would see a database of its own, new and empty.
    in_process = False
    # How long after its created_at a document written in a unit may still be uncommitted.
    settle_ms = 0
    ttl_in_index = False  # whether an index's expireAfterSeconds is what removes documents

    def __init__(self, collections):
        self.collections = collections
        # Callback re-runs after transient errors, and write conflicts by account class,
        # for tests and metrics. The embedded engine serialises, so both stay 0.
        self.transaction_retries = 0
        self.write_conflicts = dict.fromkeys(ACCOUNT_CLASSES, 0)

    def _view(self, wrap, **savepoints):
        """The collections, each wrapped (a session, an undo log, a read-only scan)."""
        return LazyCollections(self.collections, wrap, **savepoints)

    def describe(self):
        """One line for the start-up banner: where the data lives."""
        return self.engine

    def close(self):
        """Release the connection pool (MongoDB); the embedded data stays with the process."""

    def drop(self):
        """Delete every document and index of this store's database (tests and benchmarks)."""
        for collection in self.collections.values():
            collection.drop()
