"""Sorted range buckets for the embedded engine's compound indexes (see app/storage/embedded/engine.py)."""
import bisect
import datetime

_RANGE_OPERATORS = {"$gt", "$gte", "$lt", "$lte"}


def order_kind(value):
    """The family a value sorts in with Python's < ("number", "datetime"), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return "number" if value == value else None  # NaN sorts with nothing
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        return "datetime"
    return None


def bounds_kind(condition):
    """The order kind of a {$gt/$gte/$lt/$lte: bound} condition, or None if it is not one."""
    if not isinstance(condition, dict) or not condition or not set(condition) <= _RANGE_OPERATORS:
        return None
    kinds = {order_kind(bound) for bound in condition.values()}
    return kinds.pop() if len(kinds) == 1 else None


class RangeBucket:
    """The documents of one leading-key value, by one more field, in sorted order.

    Values of each kind sit in a sorted list beside their ids; any other value (None,
    missing, a list, a string ...) is in ``others`` and is a candidate for every range."""

    def __init__(self):
        self.columns = {}  # kind -> ([sorted values], [ids in the same order])
        self.others = {}

    @staticmethod
    def _position(values, ids, _id, value):
        at = bisect.bisect_left(values, value)
        while at < len(values) and values[at] == value:
            if ids[at] == _id:
                return at
            at += 1
        return None

    def __len__(self):
        return len(self.others) + sum(len(ids) for _, ids in self.columns.values())

    def add(self, _id, value):
        kind = order_kind(value)
        if kind is None:
            self.others[_id] = None
            return
        values, ids = self.columns.setdefault(kind, ([], []))
        if self._position(values, ids, _id, value) is None:  # adding twice must not list it twice
            at = bisect.bisect_right(values, value)
            values.insert(at, value)
            ids.insert(at, _id)

    def remove(self, _id, value):
        kind = order_kind(value)
        if kind is None:
            self.others.pop(_id, None)
            return
        values, ids = self.columns.get(kind, ([], []))
        found = self._position(values, ids, _id, value)
        if found is not None:
            del values[found], ids[found]

    def between(self, kind, bounds):
        """Ids that may meet ``bounds``: that kind's slice, plus everything not of that kind."""
        found = list(self.others)
        for column_kind, (values, ids) in self.columns.items():
            if column_kind != kind:
                found.extend(ids)
                continue
            low, high = _slice(values, bounds)
            found.extend(ids[low:high])
        return found

    def in_order(self, kind, bounds, descending):
        """The ids within ``bounds`` in sorted order, lazily; None when order is not certain.

        Only when every value here is of that one kind: ``others`` and other kinds have no
        place in the order, so the caller must sort them the slow way. Read it while the
        store's lock is held (the lists are not copied)."""
        if self.others or set(self.columns) - {kind}:
            return None
        values, ids = self.columns.get(kind, ([], []))
        low, high = _slice(values, bounds)
        positions = range(high - 1, low - 1, -1) if descending else range(low, high)
        return (ids[at] for at in positions)


def _slice(values, bounds):
    """The positions [low, high) of the sorted ``values`` that meet $gt/$gte/$lt/$lte ``bounds``."""
    low, high = 0, len(values)
    if "$gte" in bounds:
        low = max(low, bisect.bisect_left(values, bounds["$gte"]))
    if "$gt" in bounds:
        low = max(low, bisect.bisect_right(values, bounds["$gt"]))
    if "$lte" in bounds:
        high = min(high, bisect.bisect_right(values, bounds["$lte"]))
    if "$lt" in bounds:
        high = min(high, bisect.bisect_left(values, bounds["$lt"]))
    return low, high
