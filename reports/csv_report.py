"""Statement as CSV (RFC 4180): a header row, an opening row, one row per operation, a closing row.

Amounts are split into debit and credit columns, so every number in the file
is non-negative and a spreadsheet reads it as a number. The only text a user
wrote is ``details``; a cell of it that starts with = + - @ TAB or CR gets a
leading apostrophe, so that a spreadsheet shows it as text instead of running
it as a formula.
"""
import csv
import json

from app.money import format_cents
from reports.statement import Running, checked, link_fields, operation_fields, period_fields, stream

# The links (hold_id, refund_of, ...) one column each, then the transfer's metadata as one
# JSON object (empty when it has none).
COLUMNS = ("seq", "created_at", "type", "debit", "credit", "balance_after",
           "counterparty_wallet_id", "transfer_id", "details", "operation_id",
           *link_fields(), "metadata")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file whose write() hands the line back, so csv.writer formats one row at a time."""

    def write(self, line):
        return line


def guard_formula(text):
    """Text a spreadsheet will not evaluate: a leading apostrophe before a formula start."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _operation_row(entry):
    fields = operation_fields(entry)
    amount_cents = entry["amount_cents"]
    return [fields["seq"], fields["created_at"], fields["type"],
            format_cents(-amount_cents) if amount_cents < 0 else "",
            format_cents(amount_cents) if amount_cents >= 0 else "",
            fields["balance_after"], fields["counterparty_wallet_id"] or "",
            fields["transfer_id"] or "", guard_formula(fields["details"] or ""), fields["id"],
            *(fields.get(name) or "" for name in link_fields()),
            guard_formula(json.dumps(fields["metadata"])) if fields.get("metadata") else ""]


def _summary_row(kind, moment, balance, debit="", credit=""):
    return ["", moment or "", kind, debit, credit, balance, *[""] * (len(COLUMNS) - 6)]


def build(statement, entries):
    """Yield the CSV text of ``statement`` in chunks, reading ``entries`` once."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    running = Running(statement)
    period = period_fields(statement)
    head = writer.writerow(COLUMNS) + writer.writerow(_summary_row(
        "opening_balance", period["from"], format_cents(statement.opening_balance_cents)))

    def tail():
        running.finish()
        return writer.writerow(_summary_row(
            "closing_balance", period["to"], format_cents(running.balance_cents),
            debit=format_cents(running.out_cents), credit=format_cents(running.in_cents)))

    rows = checked(running, entries, lambda entry: writer.writerow(_operation_row(entry)))
    return stream(head, rows, tail)
