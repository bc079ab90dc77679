"""The embedded engine's short paths for the calls every unit of work makes.

A transfer inserts five documents and moves two wallets with ``$inc``/``$set``. In
mongomock each of those walks the document three times in Python (a datetime patch,
a deep copy, a comparison with a snapshot) and builds a cursor to find one document
by ``_id``: under ``make bench`` that copying was most of a transfer's time (see
docs/benchmarks.md, "Latest numbers"). These functions do the same work once.
Each has the semantics of the mongomock code it replaces (tests/storage/test_embedded_writes.py
runs both on the same inputs); anything they do not cover goes the mongomock way.
"""
import copy
from datetime import datetime

from bson import BSON, ObjectId

_IMMUTABLE = (str, int, float, bool, type(None), bytes, ObjectId)
_LEAVES = frozenset(_IMMUTABLE)  # kept as they are by mongo_datetimes
_SHARED = _LEAVES | {datetime}  # immutable, so a copy may share them
_MISSING = object()
_UPDATERS = frozenset(("$inc", "$set", "$unset"))


def mongo_datetimes(value):
    """``mongomock.helpers.patch_datetime_awareness_in_document``: containers rebuilt (a dict as
    a dict, a tuple or list as a list), datetimes cut to milliseconds, naive UTC."""
    kind = type(value)
    if kind is dict:  # leaves inline: most values of a document are strings and numbers
        return {key: item if type(item) in _LEAVES else mongo_datetimes(item)
                for key, item in value.items()}
    if kind in _LEAVES:
        return value
    if kind is list or kind is tuple:
        return [item if type(item) in _LEAVES else mongo_datetimes(item) for item in value]
    if kind is datetime and value.tzinfo is None:
        return value if value.microsecond % 1000 == 0 else value.replace(
            microsecond=value.microsecond // 1000 * 1000)
    from mongomock import helpers  # anything else (OrderedDict, aware datetimes, Timestamp)
    return helpers.patch_datetime_awareness_in_document(value)


def clone(value):
    """A copy of a stored document as ``copy.deepcopy`` makes it: new dicts and lists, the
    same immutable leaves."""
    kind = type(value)
    if kind is dict:
        return {key: item if type(item) in _SHARED else clone(item) for key, item in value.items()}
    if kind in _SHARED:
        return value
    if kind is list:
        return [item if type(item) in _SHARED else clone(item) for item in value]
    return copy.deepcopy(value)


def simple_update(update):
    """Whether ``update`` is ``$inc``/``$set``/``$unset`` of top-level fields other than ``_id``,
    each field named once, every ``$inc`` by a number: the only updates ``apply`` takes."""
    if type(update) is not dict or not update or not _UPDATERS.issuperset(update):
        return False
    seen = set()
    for operator, fields in update.items():
        if type(fields) is not dict or not fields:
            return False
        for name, value in fields.items():
            if (type(name) is not str or not name or "." in name or name[0] == "$" or name == "_id"
                    or name in seen):
                return False
            if operator == "$inc" and type(value) not in (int, float):
                return False
            seen.add(name)
    return True


def incrementable(document, update):
    """Whether every field the update ``$inc``s is missing or a number in ``document`` (if not,
    mongomock raises its own error, so ``apply`` must not start)."""
    return all(type(document.get(name, 0)) in (int, float) for name in update.get("$inc", ()))


def written_fields(update):
    """The fields a ``simple_update`` writes."""
    return {name for names in update.values() for name in names}


def encodable(update):
    """Whether BSON can hold every ``$set`` value (mongomock refuses the others, with its own
    errors: such an update goes its way)."""
    try:
        BSON.encode(update.get("$set", {}))
    except Exception:  # InvalidDocument, OverflowError, ...: mongomock says which
        return False
    return True


def apply(document, update):
    """Apply a ``simple_update`` to an ``incrementable`` stored document in place, operators in
    the update's order as mongomock applies them; whether it changed (compared as mongomock
    compares, with ``!=``)."""
    changed = False
    for operator, named in update.items():
        for name, value in named.items():
            current = document.get(name, _MISSING)
            if operator == "$unset":
                if current is not _MISSING:
                    del document[name]
                    changed = True
                continue
            if operator == "$inc":
                value = value if current is _MISSING else current + value
            else:
                value = mongo_datetimes(value)
            changed = changed or current is _MISSING or current != value
            document[name] = value
    return changed
