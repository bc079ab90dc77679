"""Pages of a listing: how many per page, and the one cursor codec.

A cursor is opaque to clients: base64url, unpadded, of ``kind:field:field...``, where
``kind`` keeps one listing's cursors out of another's. The journal's pages are cut at a seq
(``seq:<seq>``); every other listing at its last document's ``created_at`` (milliseconds
since 1970) and ``_id`` (``<kind>:<milliseconds>:<_id>``).
"""
import base64
import binascii
from datetime import datetime, timedelta

from flask import request

from app import errors

MAX_PAGE = 100
DEFAULT_PAGE = "20"
MAX_SEQ = 2**63 - 1  # MongoDB refuses larger integers in a query: a bigger cursor would be a 500
EPOCH = datetime(1970, 1, 1)
MILLISECOND = timedelta(milliseconds=1)
MAX_DIGITS = 15  # milliseconds of any year from 1 to 9999 (years before 1970 are negative)
LEGACY_STAMP = "%Y-%m-%dT%H:%M:%S.%f"


def page_limit():
    """The ``limit`` query parameter: 1 to MAX_PAGE (default 20), else 400."""
    raw = request.args.get("limit", DEFAULT_PAGE)
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise errors.ValidationFailed("limit is not valid", errors=[
            {"field": "limit", "message": f"must be a whole number from 1 to {MAX_PAGE}"}])
    return int(raw)


def _invalid_cursor():
    return errors.InvalidCursor("after must be a next_cursor from an earlier page")


def encode(kind, *fields):
    """The cursor of ``kind`` holding ``fields`` (none may contain ":")."""
    return base64.urlsafe_b64encode(":".join(map(str, (kind, *fields))).encode()).decode().rstrip("=")


def decode(cursor, kind, count):
    """The ``count`` fields of a cursor of ``kind``; 400 invalid_cursor for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid_cursor() from None
    found, *fields = text.split(":")
    if found != kind or len(fields) != count or not text.isascii():
        raise _invalid_cursor()
    return fields


def seq_cursor(seq):
    """Where the journal's next page starts: below ``seq``."""
    return encode("seq", seq)


def read_seq_cursor(cursor):
    (seq,) = decode(cursor, "seq", 1)
    if not seq.isdigit() or len(seq) > len(str(MAX_SEQ)) or int(seq) > MAX_SEQ:
        raise _invalid_cursor()
    return int(seq)


def position_cursor(doc, kind):
    """Where a listing ordered by (created_at, _id) goes on after ``doc``."""
    return encode(kind, (doc["created_at"] - EPOCH) // MILLISECOND, doc["_id"])


def read_position_cursor(cursor, kind, valid_id=bool, legacy=False):
    """(created_at, _id) of a ``position_cursor`` of ``kind`` whose id passes ``valid_id``; else 400.

    ``legacy``: also read the spelling the listing handed out before (``_read_legacy_stamp``)."""
    found = _read_legacy_stamp(cursor, valid_id) if legacy else None
    if found is not None:
        return found
    milliseconds, doc_id = decode(cursor, kind, 2)
    digits = milliseconds.removeprefix("-")
    if not (digits.isdigit() and len(digits) <= MAX_DIGITS) or not valid_id(doc_id):
        raise _invalid_cursor()
    try:
        return EPOCH + int(milliseconds) * MILLISECOND, doc_id
    except OverflowError:
        raise _invalid_cursor() from None


def _read_legacy_stamp(cursor, valid_id):
    """A cursor the event feed and payment requests handed out before this codec
    (``<created_at isoformat>|<_id>``), read so that a client's stored cursor stays valid;
    None when ``cursor`` is not one."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, bar, doc_id = text.partition("|")
        if bar and valid_id(doc_id):
            return datetime.strptime(moment, LEGACY_STAMP), doc_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    return None
