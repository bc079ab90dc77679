"""Each statement format parsed back to the same plain facts, for comparing formats."""
import csv
import io
import json
import re
import xml.etree.ElementTree as ET

from app.money import parse_cents

OPERATION_KEYS = ("id", "seq", "created_at", "type", "amount", "balance_after",
                  "counterparty_wallet_id", "transfer_id", "details")


def from_json(text):
    document = json.loads(text)
    assert list(document) == ["wallet", "period", "opening_balance", "operations",
                              "closing_balance", "totals"]
    assert document["totals"]["count"] == len(document["operations"])
    return document


def from_csv(text):
    """Facts from the CSV: the opening row, the operation rows and the closing row."""
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    opening, operations, closing = rows[0], rows[1:-1], rows[-1]
    assert (opening["type"], closing["type"]) == ("opening_balance", "closing_balance")
    return {
        "period": {"from": opening["created_at"] or None, "to": closing["created_at"] or None},
        "opening_balance": opening["balance_after"],
        "operations": [{
            "id": row["operation_id"], "seq": int(row["seq"]), "created_at": row["created_at"],
            "type": row["type"], "amount": row["credit"] or "-" + row["debit"],
            "balance_after": row["balance_after"],
            "counterparty_wallet_id": row["counterparty_wallet_id"] or None,
            "transfer_id": row["transfer_id"] or None, "details": row["details"],
        } for row in operations],
        "closing_balance": closing["balance_after"],
        "totals": {"in": closing["credit"], "out": closing["debit"], "count": len(operations)},
    }


def _child_text(element, name):
    child = element.find(name)
    return None if child is None else (child.text or "")


def from_xml(text):
    root = ET.fromstring(text.encode())
    wallet, period, totals = root.find("wallet"), root.find("period"), root.find("totals")
    operations = [dict(
        id=op.get("id"), seq=int(op.get("seq")), created_at=op.get("created_at"), type=op.get("type"),
        **{name: _child_text(op, name) for name in OPERATION_KEYS[4:]},
    ) for op in root.find("operations").findall("operation")]
    return {
        "wallet": {"id": wallet.get("id"), "client_id": wallet.get("client_id"),
                   "currency": wallet.get("currency"), "version": int(wallet.get("version"))},
        "period": {"from": period.get("from"), "to": period.get("to"),
                   "opening_seq": int(period.get("opening_seq")),
                   "closing_seq": int(period.get("closing_seq"))},
        "opening_balance": root.findtext("opening_balance"),
        "operations": operations,
        "closing_balance": root.findtext("closing_balance"),
        "totals": {"in": totals.get("in"), "out": totals.get("out"), "count": int(totals.get("count"))},
    }


PARSERS = {"csv": from_csv, "json": from_json, "xml": from_xml}


def assert_adds_up(facts):
    """Opening + in - out = closing, and every operation follows on from the one before."""
    balance = parse_cents(facts["opening_balance"])
    total_in = total_out = 0
    for operation in facts["operations"]:
        amount = operation["amount"]
        cents = -parse_cents(amount[1:]) if amount.startswith("-") else parse_cents(amount)
        balance += cents
        assert parse_cents(operation["balance_after"]) == balance, operation
        total_in += max(cents, 0)
        total_out += max(-cents, 0)
    totals = facts["totals"]
    assert (parse_cents(totals["in"]), parse_cents(totals["out"])) == (total_in, total_out)
    opening, closing = parse_cents(facts["opening_balance"]), parse_cents(facts["closing_balance"])
    assert opening + total_in - total_out == closing
    assert balance == closing


def as_csv_shows(facts):
    """The JSON facts as the CSV carries them: no wallet or seqs in the period, details never
    null, and details that start like a formula behind an apostrophe."""
    def details(text):
        text = text or ""
        return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

    return {"period": {"from": facts["period"]["from"], "to": facts["period"]["to"]},
            "opening_balance": facts["opening_balance"],
            "operations": [dict(op, details=details(op["details"])) for op in facts["operations"]],
            "closing_balance": facts["closing_balance"], "totals": facts["totals"]}


def as_xml_shows(facts):
    """The JSON facts as the XML carries them: characters XML 1.0 forbids are U+FFFD."""
    forbidden = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
    operations = [dict(op, details=None if op["details"] is None else forbidden.sub("\ufffd", op["details"]))
                  for op in facts["operations"]]
    return dict(facts, operations=operations)


def report(client, headers, wallet_id, kind="json", status=200, **params):
    """GET the report (``format=kind``) and check the status; (response, body text)."""
    query = "&".join(f"{name}={value}" for name, value in dict(params, format=kind).items())
    response = client.get(f"/wallets/{wallet_id}/report?{query}", headers=headers)
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    return response, text
