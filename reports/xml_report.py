"""Statement as XML 1.0 (UTF-8), one <operation> element per journal entry, streamed.

Layout (docs/features/statements.md): <statement> holds <wallet/>, <period/>,
<opening_balance>, <operations> with the <operation> elements, <closing_balance>
and <totals/>. A null field is an absent element or attribute.

Characters that XML 1.0 cannot carry at all (control characters other than
tab, LF and CR, lone surrogates, U+FFFE and U+FFFF) are replaced by U+FFFD, so
the reader sees that something was there. CR is written as &#13;, which a
parser keeps, where a raw CR would be turned into LF.
"""
import re

from app.money import format_cents
from reports.statement import (Running, checked, link_fields, operation_fields, period_fields,
                               stream, totals_fields, wallet_fields)

NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
REPLACEMENT = "\ufffd"
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
# Attribute values are normalised by parsers (tab and newlines become spaces) unless encoded.
_ATTRIBUTE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;", '"': "&quot;",
                            "\n": "&#10;", "\t": "&#9;"})
CHILDREN = ("amount", "balance_after", "counterparty_wallet_id", "transfer_id", "details",
            *link_fields())


def text(value):
    return NOT_XML.sub(REPLACEMENT, str(value)).translate(_TEXT)


def attributes(fields):
    return "".join(f' {name}="{NOT_XML.sub(REPLACEMENT, str(value)).translate(_ATTRIBUTE)}"'
                   for name, value in fields.items() if value is not None)


def element(name, value):
    return "" if value is None else f"<{name}>{text(value)}</{name}>"


def _operation(entry):
    fields = operation_fields(entry)
    identity = {name: fields[name] for name in ("id", "seq", "type", "created_at")}
    children = "".join(element(name, fields.get(name)) for name in CHILDREN)
    if fields.get("metadata"):  # <metadata><entry key="order">1042</entry>...</metadata>
        children += "<metadata>" + "".join(
            f"<entry{attributes({'key': key})}>{text(value)}</entry>"
            for key, value in fields["metadata"].items()) + "</metadata>"
    return f"    <operation{attributes(identity)}>{children}</operation>\n"


def build(statement, entries):
    """Yield the XML text of ``statement`` in chunks, reading ``entries`` once."""
    running = Running(statement)
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n<statement>\n'
            f"  <wallet{attributes(wallet_fields(statement))}/>\n"
            f"  <period{attributes(period_fields(statement))}/>\n"
            f"  {element('opening_balance', format_cents(statement.opening_balance_cents))}\n"
            "  <operations>\n")

    def tail():
        running.finish()
        return ("  </operations>\n"
                f"  {element('closing_balance', format_cents(running.balance_cents))}\n"
                f"  <totals{attributes(totals_fields(running))}/>\n</statement>\n")

    return stream(head, checked(running, entries, _operation), tail)
