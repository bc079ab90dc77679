"""What every statement format shares: the statement's header, running totals, field text.

A statement is a contiguous seq range of one wallet's journal: the entries
``opening_seq + 1 .. closing_seq``. The builders check, entry by entry, that
the stream they are fed follows on from the opening balance, so opening + in
- out = closing holds for every statement they finish.
"""
from dataclasses import dataclass
from datetime import datetime

from app.money import format_cents
from app.render import LINK_FIELDS, causes, timestamp

# Rows joined into one chunk: big enough that a chunk is a few tens of KB, small enough
# that memory does not depend on the number of rows.
ROWS_PER_CHUNK = 256


@dataclass(frozen=True)
class Statement:
    """What a statement covers, fixed before its first row is written."""

    wallet_id: str
    client_id: str
    currency: str
    version: int  # the wallet's version when the request started
    period_from: datetime | None  # naive UTC, inclusive; None: from the first entry
    period_to: datetime | None  # naive UTC, exclusive; None: up to ``version``
    opening_seq: int  # the opening balance is the balance after this seq (0: before any)
    closing_seq: int
    opening_balance_cents: int


class JournalMismatch(Exception):
    """The entries fed to a builder do not follow on from the opening balance."""


class Running:
    """Totals so far; refuses an entry that does not follow on from the one before."""

    def __init__(self, statement):
        self.statement = statement
        self.seq = statement.opening_seq
        self.balance_cents = statement.opening_balance_cents
        self.in_cents = 0
        self.out_cents = 0
        self.count = 0

    def add(self, entry):
        amount_cents = entry["amount_cents"]
        if entry["seq"] != self.seq + 1:
            raise JournalMismatch(f"seq {entry['seq']} follows seq {self.seq}")
        if entry["balance_after_cents"] != self.balance_cents + amount_cents:
            raise JournalMismatch(f"seq {entry['seq']}: balance_after does not follow on")
        self.seq += 1
        self.balance_cents += amount_cents
        self.count += 1
        if amount_cents >= 0:
            self.in_cents += amount_cents
        else:
            self.out_cents -= amount_cents
        return entry

    def finish(self):
        """Check that every entry up to closing_seq came; a short stream is no statement."""
        if self.seq != self.statement.closing_seq:
            raise JournalMismatch(f"entries ended at seq {self.seq}, "
                                  f"not at seq {self.statement.closing_seq}")
        return self


def wallet_fields(statement):
    return {"id": statement.wallet_id, "client_id": statement.client_id,
            "currency": statement.currency, "version": statement.version}


def period_fields(statement):
    return {"from": _moment(statement.period_from), "to": _moment(statement.period_to),
            "opening_seq": statement.opening_seq, "closing_seq": statement.closing_seq}


def totals_fields(running):
    return {"in": format_cents(running.in_cents), "out": format_cents(running.out_cents),
            "count": running.count}


def operation_fields(entry):
    """One journal entry as text, in the order every format writes it."""
    return {"id": entry["_id"], "seq": entry["seq"], "created_at": timestamp(entry["created_at"]),
            "type": entry["type"], "amount": format_cents(entry["amount_cents"]),
            "balance_after": format_cents(entry["balance_after_cents"]),
            "counterparty_wallet_id": entry.get("counterparty_wallet_id"),
            "transfer_id": entry.get("transfer_id"), "details": entry.get("details"),
            **causes(entry)}


def link_fields():
    """The names of what an entry may name as its cause: one CSV column, XML element each."""
    return LINK_FIELDS


def _moment(moment):
    return None if moment is None else timestamp(moment)


def checked(running, entries, render):
    """``render(entry)`` for each entry, after the running totals accept it."""
    for entry in entries:
        yield render(running.add(entry))


def stream(head, rows, tail):
    """``head``, the rows a few hundred at a time, then ``tail()`` once the rows are spent."""
    yield head
    rows_per_chunk = ROWS_PER_CHUNK
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == rows_per_chunk:
            yield "".join(chunk)
            chunk = []
    chunk.append(tail())
    yield "".join(chunk)


def filename(statement, extension):
    """wallet-<id>-<from>-<to>.<ext>, with compact UTC stamps that every file system accepts."""
    start = _stamp(statement.period_from, "start")
    end = _stamp(statement.period_to, "now")
    return f"wallet-{statement.wallet_id}-{start}-{end}.{extension}"


def _stamp(moment, unbounded):
    if moment is None:
        return unbounded
    day = moment.date().isoformat()  # not strftime's %Y: it drops a year's padding below 1000
    if moment == datetime(moment.year, moment.month, moment.day):
        return day
    milliseconds = moment.microsecond // 1000
    return day + moment.strftime("T%H%M%S") + (f".{milliseconds:03d}" if milliseconds else "") + "Z"
