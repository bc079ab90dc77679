"""Tenant isolation, enforced here and nowhere else.

Every document of a tenant's books carries ``tenant_id``. Code above storage never
sees a bare collection: a request gets a ``TenantStore`` (its caller's tenant), whose
collections add ``tenant_id`` to every filter and stamp it on every insert, so a route
or a ledger function cannot forget it, and another tenant's id finds nothing, exactly
like an id that does not exist. Background work (the sweeper, the dispatcher, the
platform operator's audit and admin log) gets ``AcrossTenants``: it reads every tenant's
documents, may only write what names its tenant, and binds itself to one tenant
(``.tenant(id)``) before it runs a ledger function.

Collections outside the tenants' books (``UNSCOPED``: the tenants themselves, API keys
looked up before the tenant is known, the schema version) are read and written as
they are; a tenant's view of them still carries its tenant in every filter.
"""
from app.storage.unit import LazyCollections

DEFAULT_TENANT = "default"
UNSCOPED = frozenset(("tenants", "api_keys", "meta"))
FIELD = "tenant_id"
# Pipeline stages that read another collection or write one: a tenant's pipeline must not.
_CROSSING_STAGES = frozenset(("$lookup", "$unionWith", "$graphLookup", "$out", "$merge",
                              "$facet", "$collStats", "$indexStats", "$currentOp"))


class TenantViolation(Exception):
    """A write or read that would cross a tenant's boundary: a bug, never a client's error."""


def _filter(query, tenant_id):
    query = dict(query or {})
    if query.get(FIELD, tenant_id) != tenant_id:
        raise TenantViolation(f"a filter of tenant {tenant_id!r} names another tenant")
    query[FIELD] = tenant_id
    return query


def _stamped(document, tenant_id):
    """The document with its tenant, stamped in place (as the driver adds ``_id`` in place)."""
    if document.get(FIELD, tenant_id) != tenant_id:
        raise TenantViolation(f"tenant {tenant_id!r} may not write a document of another tenant")
    document[FIELD] = tenant_id
    return document


def _named(document):
    """A document written across tenants, refused unless it names its tenant."""
    if not document.get(FIELD):
        raise TenantViolation("a document written across tenants must name its tenant_id")
    return document


def _update(update):
    """Refuse an update that would move a document to another tenant."""
    stages = update if isinstance(update, list) else [update]
    for stage in stages:
        for operator, fields in stage.items():
            if not operator.startswith("$"):  # a replacement document
                if FIELD in stage:
                    raise TenantViolation("an update may not change tenant_id")
                break
            if isinstance(fields, dict) and any(f == FIELD or f.startswith(FIELD + ".") for f in fields):
                raise TenantViolation("an update may not change tenant_id")
    return update


class TenantCollection:
    """One collection as one tenant sees it. Only the calls listed here exist: anything else
    (a call this layer does not know how to confine) raises AttributeError."""

    def __init__(self, collection, tenant_id):
        self._collection, self.tenant_id = collection, tenant_id

    @property
    def name(self):
        return self._collection.name

    def find(self, filter=None, *args, **kwargs):
        return self._collection.find(_filter(filter, self.tenant_id), *args, **kwargs)

    def find_one(self, filter=None, *args, **kwargs):
        return self._collection.find_one(_filter(filter, self.tenant_id), *args, **kwargs)

    def count_documents(self, filter, **kwargs):
        return self._collection.count_documents(_filter(filter, self.tenant_id), **kwargs)

    def aggregate(self, pipeline, **kwargs):
        for stage in pipeline:
            crossing = _CROSSING_STAGES.intersection(stage)
            if crossing:
                raise TenantViolation(f"a tenant's pipeline may not use {', '.join(sorted(crossing))}")
        first = pipeline[0] if pipeline else {}
        if "$match" in first:  # keep the pipeline's own $match first, so an index still serves it
            pipeline = [{"$match": _filter(first["$match"], self.tenant_id)}, *pipeline[1:]]
        else:
            pipeline = [{"$match": {FIELD: self.tenant_id}}, *pipeline]
        return self._collection.aggregate(pipeline, **kwargs)

    def insert_one(self, document, **kwargs):
        return self._collection.insert_one(_stamped(document, self.tenant_id), **kwargs)

    def insert_many(self, documents, **kwargs):
        return self._collection.insert_many([_stamped(document, self.tenant_id)
                                             for document in documents], **kwargs)

    def update_one(self, filter, update, **kwargs):
        return self._collection.update_one(_filter(filter, self.tenant_id), _update(update), **kwargs)

    def update_many(self, filter, update, **kwargs):
        return self._collection.update_many(_filter(filter, self.tenant_id), _update(update), **kwargs)

    def find_one_and_update(self, filter, update, **kwargs):
        return self._collection.find_one_and_update(_filter(filter, self.tenant_id), _update(update),
                                                    **kwargs)

    def replace_one(self, filter, replacement, **kwargs):
        return self._collection.replace_one(_filter(filter, self.tenant_id),
                                            _stamped(replacement, self.tenant_id), **kwargs)

    def delete_one(self, filter, **kwargs):
        return self._collection.delete_one(_filter(filter, self.tenant_id), **kwargs)

    def delete_many(self, filter, **kwargs):
        return self._collection.delete_many(_filter(filter, self.tenant_id), **kwargs)

    def index_information(self):
        return self._collection.index_information()

    def drop_index(self, index):
        """An index is the schema's, not a tenant's documents (tests drop one to corrupt)."""
        return self._collection.drop_index(index)


class PlatformCollection:
    """A collection as background work sees it: every tenant's documents are read; an insert
    must name its tenant, and no update may change one."""

    _READS = ("find", "find_one", "count_documents", "aggregate", "index_information")

    def __init__(self, collection):
        self._collection = collection

    @property
    def name(self):
        return self._collection.name

    def __getattr__(self, name):
        if name in self._READS:
            return getattr(self._collection, name)
        raise AttributeError(f"{name} is not allowed across tenants")

    def insert_one(self, document, **kwargs):
        return self._collection.insert_one(_named(document), **kwargs)

    def insert_many(self, documents, **kwargs):
        return self._collection.insert_many([_named(document) for document in documents], **kwargs)

    def update_one(self, filter, update, **kwargs):
        return self._collection.update_one(filter, _update(update), **kwargs)

    def update_many(self, filter, update, **kwargs):
        return self._collection.update_many(filter, _update(update), **kwargs)

    def find_one_and_update(self, filter, update, **kwargs):
        return self._collection.find_one_and_update(filter, _update(update), **kwargs)

    def delete_one(self, filter, **kwargs):
        return self._collection.delete_one(filter, **kwargs)

    def delete_many(self, filter, **kwargs):
        return self._collection.delete_many(filter, **kwargs)


class _Names:
    """name -> (name, the view's collection), looked up when a unit first names it."""

    def __init__(self, view, names):
        self._view, self._names = view, names

    def __contains__(self, name):
        return name in self._names

    def __getitem__(self, name):
        return name, getattr(self._view, name)


class _Bound:
    """What both views share: the engine's properties and the four ways to run work."""

    def __init__(self, store, context=None):
        self._store = store
        self.context = context or {}  # who acts and for which request (the admin log reads it)

    engine = property(lambda self: self._store.engine)
    in_process = property(lambda self: self._store.in_process)
    settle_ms = property(lambda self: self._store.settle_ms)
    transaction_retries = property(lambda self: self._store.transaction_retries)
    write_conflicts = property(lambda self: self._store.write_conflicts)

    @property
    def collections(self):
        """Each collection outside any unit of work, through this view's layer (tests, ``db``
        tools): a tenant's confined, across tenants as background work sees them."""
        return {name: self._collection(name, collection)
                for name, collection in self._store.collections.items()}

    def _wrap(self, view):
        wrapped = LazyCollections(_Names(view, self._store.collections),
                                  lambda named: self._collection(*named),
                                  savepoint=getattr(view, "savepoint", None),
                                  rollback_to=getattr(view, "rollback_to", None))
        wrapped.tenant_id, wrapped.context = self.tenant_id, self.context
        return wrapped

    def transaction(self, work):
        return self._store.transaction(lambda view: work(self._wrap(view)))

    def atomic(self, work):
        return self._store.atomic(lambda view: work(self._wrap(view)))

    def read(self, work):
        return self._store.read(lambda view: work(self._wrap(view)))

    def snapshot(self, work):
        return self._store.snapshot(lambda view: work(self._wrap(view)))

    def ping(self):
        return self._store.ping()

    def close(self):
        """Close the engine beneath (tests that made an app of their own)."""
        self._store.close()


class TenantStore(_Bound):
    """The store as one tenant sees it: every collection confined to ``tenant_id``."""

    def __init__(self, store, tenant_id, context=None):
        if not isinstance(tenant_id, str) or not tenant_id:
            raise TenantViolation("a tenant store needs a tenant id")
        super().__init__(store, context)
        self.tenant_id = tenant_id

    def _collection(self, name, collection):
        return TenantCollection(collection, self.tenant_id)

    def tenant(self, tenant_id):
        """This store, if ``tenant_id`` is its own: work bound to one tenant stays there."""
        if tenant_id != self.tenant_id:
            raise TenantViolation(f"work of tenant {self.tenant_id!r} may not act in {tenant_id!r}")
        return self


class AcrossTenants(_Bound):
    """Every tenant's documents, for background work and the platform operator's reads."""

    tenant_id = None

    def _collection(self, name, collection):
        return PlatformCollection(collection)

    def tenant(self, tenant_id, context=None):
        return TenantStore(self._store, tenant_id, context if context is not None else self.context)

    def acting(self, context):
        """This view, with who acts (the platform operator's requests)."""
        return AcrossTenants(self._store, context)
