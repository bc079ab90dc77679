"""Index keys of documents and of filters, for the embedded engine's hashes and range buckets.

A document is filed under one key per index, or, where a field holds an array, under one
key per element, as MongoDB's multikey indexes file it: ``{wallet_ids: w}`` must find
every event whose ``wallet_ids`` holds ``w``. A key no filter can name (a date, None) is
not filed at all: only plain values are ever looked up, and filing ``created_at`` keys
cost every insert a bucket of its own. A filter is read for the conditions every
match must meet: its own fields, and those of its ``$and`` clauses (the listings put
their caller's scope in one), with its ``$or`` lists beside them.
"""
import itertools

# The values a filter pins: a hash or a range bucket is looked up by these alone.
SCALARS = (str, int, bool, bytes)
# The values one of those can equal (1 == 1.0): a key holding anything else (None, a date, a
# sub-document ...) is never looked up, so no document is filed under it.
_EQUAL_TO_A_SCALAR = (str, int, float, bytes)
_PLAIN_TYPES = frozenset((str, int, float, bytes, bool))  # the common case, by exact type


def pinned(found):
    """The conditions of ``found`` (``conditions``) that pin a field to a plain value."""
    return {field: value for field, value in found.items() if isinstance(value, SCALARS)}


def pinned_key(values, fields):
    """The key pinned ``values`` name in an index on ``fields``."""
    return tuple(values.get(field) for field in fields)


def single_key(doc, fields):
    """Whether ``doc`` is filed under exactly its own values (no array, nothing left unfiled)."""
    return all(isinstance(doc.get(field), _EQUAL_TO_A_SCALAR) for field in fields)


def filed_under(doc, fields):
    """The keys ``doc`` is filed under in an index on ``fields``: its values; or, where a field
    holds an array, one key per distinct element; none where a value (or every element) is one
    no pinned value equals."""
    values = tuple(map(doc.get, fields))
    for value in values:  # every insert files each document under every index: kept short
        if type(value) not in _PLAIN_TYPES:
            if type(value) is list or isinstance(value, _EQUAL_TO_A_SCALAR):  # or a subclass (Int64)
                return _filed_by_elements(values)
            return ()  # None, a date, a sub-document: no pinned value equals it
    return (values,)


def _filed_by_elements(values):
    choices = []
    for value in values:
        elements = _elements(value)
        if not elements:
            return ()
        choices.append(elements)
    return tuple(itertools.product(*choices))


def _elements(value):
    if isinstance(value, _EQUAL_TO_A_SCALAR):
        return (value,)
    if type(value) is not list:
        return ()
    return tuple(dict.fromkeys(element for element in value if isinstance(element, _EQUAL_TO_A_SCALAR)))


def conditions(filter):
    """(field -> condition, [$or lists]) that every document matching ``filter`` meets: its own
    fields and those of its ``$and`` clauses, nested; where a field has several conditions the
    first is kept (each holds on its own, so any of them narrows soundly)."""
    found, alternatives = {}, []
    for field, condition in filter.items():
        if field == "$and" and isinstance(condition, list):
            for clause in condition:
                if isinstance(clause, dict):
                    inner, inner_alternatives = conditions(clause)
                    for name, value in inner.items():
                        found.setdefault(name, value)
                    alternatives.extend(inner_alternatives)
        elif field == "$or":
            if isinstance(condition, list) and condition:
                alternatives.append(condition)
        else:
            found.setdefault(field, condition)
    return found, alternatives
