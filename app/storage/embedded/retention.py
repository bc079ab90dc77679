"""Retention on the embedded engine: TTL indexes, and at most N documents per value of a field.

MongoDB's TTL monitor deletes expired documents once a minute; mongomock ignores TTL
indexes, so before this every idempotency record lived as long as the process (about
1 KB each, and a client with no money could make 20,000 of them by sending refused
transfers). Here a collection's documents are remembered in insertion order, and each
read or insert first drops those past the TTL, oldest first: O(1) when none is due.
"""
import collections
from datetime import datetime, timedelta, timezone


def utcnow():
    """Naive UTC, as both engines store ``created_at`` (tests move it)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Retention:
    """Which documents of one collection have outlived their TTL or their group's cap."""

    def __init__(self):
        self.ttl = None  # (field, seconds), from create_index(..., expireAfterSeconds=...)
        self.cap = None  # (field, most documents per value of it)
        self._arrivals = collections.deque()  # ids in insertion order; ~ created_at order
        self._groups = {}  # value of the cap field -> {id: None}, oldest first
        self._exempt = frozenset()

    def set_ttl(self, field, seconds, documents):
        self.ttl = (field, seconds)
        self._arrivals = collections.deque(documents)

    def set_cap(self, field, most, documents, exempt=()):
        self.cap = (field, most)
        self._exempt = frozenset(exempt)
        self._groups = {}
        for _id, doc in documents.items():
            self._groups.setdefault(doc.get(field), {})[_id] = None

    def added(self, _id, doc):
        """Note a new document; return the id its group must drop to stay within the cap, or None."""
        if self.ttl is not None:
            self._arrivals.append(_id)
        if self.cap is None:
            return None
        field, most = self.cap
        if doc.get(field) in self._exempt:
            return None
        group = self._groups.setdefault(doc.get(field), {})
        group[_id] = None
        return next(iter(group)) if len(group) > most else None

    def removed(self, _id, doc):
        if self.cap is not None:
            group = self._groups.get(doc.get(self.cap[0]))
            if group is not None:
                group.pop(_id, None)
                if not group:
                    del self._groups[doc.get(self.cap[0])]

    def expired(self, documents):
        """Ids past the TTL, oldest first; stops at the first document still alive.

        As in MongoDB, a document whose field is missing or not a date never expires."""
        if self.ttl is None:
            return []
        field, seconds = self.ttl
        cutoff = utcnow() - timedelta(seconds=seconds)
        due = []
        while self._arrivals:
            doc = documents.get(self._arrivals[0])
            moment = None if doc is None else doc.get(field)
            if isinstance(moment, datetime) and moment > cutoff:
                break
            _id = self._arrivals.popleft()
            if isinstance(moment, datetime):
                due.append(_id)
        return due
