"""The audit's read-only walk over the embedded engine's stored documents (see ``ReadOnlyScan``)."""
from mongomock import helpers
from mongomock.filtering import filter_applies


def _bson_order(value):
    """A sort key ranking types as MongoDB does (null, numbers, strings, other) for this app's fields."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (4, value)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, str(value))


class _Scan:
    """``find(filter).sort(...).batch_size(n)`` over the stored documents themselves."""

    def __init__(self, documents, filter):
        self._documents = documents
        self._filter = filter
        self._sort = []

    def sort(self, key_or_list, direction=1):
        self._sort = helpers.create_index_list(key_or_list, direction)
        return self

    def batch_size(self, count):
        return self

    def __iter__(self):
        found = [doc for doc in self._documents.values()
                 if not self._filter or filter_applies(self._filter, doc)]
        for field, direction in reversed(self._sort):  # stable sorts, last key first
            found.sort(key=lambda doc: _bson_order(doc.get(field)), reverse=direction < 0)
        return iter(found)


class ReadOnlyScan:
    """A collection for a read-only walk under the engine lock (the audit).

    mongomock copies every document it returns, sorts with a comparator written in
    Python, and re-slices its whole result list on every ``next()``: a walk over
    20,000 entries took 5.6 s, and the cost grows with the square of the size. This
    reads the stored dicts directly, so callers must not modify what they get.
    """

    def __init__(self, collection):
        self._documents = collection._store._documents

    def find(self, filter=None):
        return _Scan(self._documents, filter or {})
