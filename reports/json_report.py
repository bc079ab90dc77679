"""Statement as one JSON document, written as it streams.

Keys: wallet, period, opening_balance, operations (one per line), then
closing_balance and totals, which are known only once every operation is out.
The text is ASCII (non-ASCII characters are \\u escapes), as in the rest of the API.
"""
import json

from app.money import format_cents
from reports.statement import (Running, checked, operation_fields, period_fields, stream,
                               totals_fields, wallet_fields)


def build(statement, entries):
    """Yield the JSON text of ``statement`` in chunks, reading ``entries`` once."""
    running = Running(statement)
    head = json.dumps({"wallet": wallet_fields(statement), "period": period_fields(statement),
                       "opening_balance": format_cents(statement.opening_balance_cents)})
    head = head[:-1] + ', "operations": ['

    def row(entry):
        separator = "\n" if running.count == 1 else ",\n"
        return separator + json.dumps(operation_fields(entry))

    def tail():
        running.finish()
        end = json.dumps({"closing_balance": format_cents(running.balance_cents),
                          "totals": totals_fields(running)})
        return ("\n" if running.count else "") + "], " + end[1:] + "\n"

    return stream(head, checked(running, entries, row), tail)
