"""Retention on the embedded engine: TTL indexes, and at most N documents per value of a field.

MongoDB's TTL monitor deletes expired documents once a minute; mongomock ignores TTL
indexes, so before this every idempotency record lived as long as the process (about
1 KB each, and a client with no money could make 20,000 of them by sending refused
transfers). Here a collection's documents are remembered in insertion order, and each
read or insert first drops those past the TTL, oldest first: O(1) when none is due.

A cap refuses the insert that would pass it (``StoreFull``), never drops a document to
make room: a dropped idempotency record let a retry pay twice (issue 29).
"""
import collections
import math
from datetime import datetime, timedelta, timezone

from app.storage.unit import StoreFull


def utcnow():
    """Naive UTC, as both engines store ``created_at`` (tests move it)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Retention:
    """Which documents of one collection have outlived their TTL or their group's cap."""

    def __init__(self):
        self.ttl = None  # (field, seconds), from create_index(..., expireAfterSeconds=...)
        self.cap = None  # (field, most documents per value of it)
        self.unique = ()  # the fields of the collection's unique key, answered before the cap
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
            if doc.get(field) not in self._exempt:
                self._groups.setdefault(doc.get(field), {})[_id] = None

    def admit(self, doc, documents):
        """Raise StoreFull if ``doc`` would pass its group's cap (expired ones already dropped)."""
        if self.cap is None:
            return
        field, most = self.cap
        group = self._groups.get(doc.get(field), ())
        if len(group) >= most and doc.get(field) not in self._exempt:
            raise StoreFull(most, self._seconds_left(documents.get(next(iter(group)))))

    def _seconds_left(self, oldest):
        """Whole seconds until ``oldest`` expires (at least 1), or None without a TTL."""
        moment = None if self.ttl is None or oldest is None else oldest.get(self.ttl[0])
        if not isinstance(moment, datetime):
            return None
        left = moment + timedelta(seconds=self.ttl[1]) - utcnow()
        return max(1, math.ceil(left.total_seconds()))

    def added(self, _id, doc):
        """Note a document just stored (``admit`` let it in)."""
        if self.ttl is not None:
            self._arrivals.append(_id)
        if self.cap is not None and doc.get(self.cap[0]) not in self._exempt:
            self._groups.setdefault(doc.get(self.cap[0]), {})[_id] = None

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
