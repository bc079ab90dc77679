"""The statement builders alone (no Flask, no storage): formats, escaping, streaming, checks."""
import json
from datetime import datetime, timedelta

import pytest

import reports
from reports import JournalMismatch, Statement
from reports.csv_report import guard_formula
from tests.support.report_facts import PARSERS, as_csv_shows, as_xml_shows, assert_adds_up

START = datetime(2024, 3, 1, 9, 30)


def journal(count, opening_seq=0, opening_cents=0, details=lambda seq: f"entry {seq}"):
    """A well-formed journal stream: deposits, transfers out and in, in turn."""
    balance = opening_cents
    for seq in range(opening_seq + 1, opening_seq + count + 1):
        kind = ("deposit", "transfer_out", "transfer_in")[seq % 3]
        amount = -(seq % 7 + 1) if kind == "transfer_out" and balance > 10 else 100 + seq
        kind = "deposit" if kind == "transfer_out" and amount > 0 else kind
        balance += amount
        transfer = kind != "deposit"
        yield {"_id": f"op_{seq}", "wallet_id": "wal_1", "seq": seq, "type": kind,
               "amount_cents": amount, "balance_after_cents": balance,
               "counterparty_wallet_id": "wal_2" if transfer else None,
               "transfer_id": f"tr_{seq}" if transfer else None, "details": details(seq),
               "created_at": START + timedelta(minutes=seq)}


def statement(count, opening_seq=0, opening_cents=0, **period):
    return Statement(wallet_id="wal_1", client_id="cli_1", currency="USD",
                     version=opening_seq + count + 5, period_from=period.get("start"),
                     period_to=period.get("end"), opening_seq=opening_seq,
                     closing_seq=opening_seq + count, opening_balance_cents=opening_cents)


def render(kind, count, opening_seq=0, opening_cents=0, **journal_options):
    entries = journal(count, opening_seq, opening_cents, **journal_options)
    return "".join(reports.FORMATS[kind].build(statement(count, opening_seq, opening_cents), entries))


@pytest.mark.parametrize("count", [0, 1, 2, 300, 1000])
def test_every_format_carries_the_same_facts(count):
    facts = {kind: PARSERS[kind](render(kind, count, opening_seq=40, opening_cents=12_345))
             for kind in reports.FORMATS}
    expected = facts["json"]
    assert [op["seq"] for op in expected["operations"]] == list(range(41, 41 + count))
    assert expected["opening_balance"] == "123.45"
    assert_adds_up(expected)
    assert facts["xml"] == as_xml_shows(expected) == expected
    assert facts["csv"] == as_csv_shows(expected)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"x\")"])
def test_formula_starts_are_guarded(text):
    assert guard_formula(text) == "'" + text
    rows = PARSERS["csv"](render("csv", 1, details=lambda seq: text))["operations"]
    assert rows[0]["details"] == "'" + text


@pytest.mark.parametrize("text", ["", "a=1", "1-1", "'quoted", " =not at start", "\n=x"])
def test_other_text_is_left_alone(text):
    assert guard_formula(text) == text


def test_csv_numbers_never_start_with_a_sign():
    rows = PARSERS["csv"](render("csv", 30))["operations"]
    assert any(row["amount"].startswith("-") for row in rows)  # debits exist ...
    text = render("csv", 30)
    for line in text.splitlines()[1:]:
        debit, credit, balance = line.split(",")[3:6]
        assert not any(cell.startswith("-") for cell in (debit, credit, balance))  # ... as debit cells


def test_xml_replaces_what_xml_cannot_carry_and_keeps_the_rest():
    raw = "nul\x00 bell\x07 esc\x1b ff\x0c lone\ud800 nonchar\ufffe tab\t lf\n cr\r <&>\"' \U0001f389"
    facts = PARSERS["xml"](render("xml", 1, details=lambda seq: raw))
    assert facts["operations"][0]["details"] == (
        "nul\ufffd bell\ufffd esc\ufffd ff\ufffd lone\ufffd nonchar\ufffd tab\t lf\n cr\r <&>\"' \U0001f389")


def test_json_escapes_everything_and_stays_ascii():
    raw = "ctl\x00\x1f quote\" backslash\\ lone\ud800 ünï \U0001f389"
    text = render("json", 1, details=lambda seq: raw)
    assert text.isascii()
    assert json.loads(text)["operations"][0]["details"] == raw


def test_output_comes_in_chunks_of_bounded_size():
    chunks = list(reports.FORMATS["json"].build(statement(5000), journal(5000)))
    assert len(chunks) > 5000 // reports.statement.ROWS_PER_CHUNK
    assert max(len(chunk) for chunk in chunks) < 100_000


def test_rows_are_read_lazily():
    read = []

    def entries():
        for entry in journal(2000):
            read.append(entry["seq"])
            yield entry

    chunks = reports.FORMATS["csv"].build(statement(2000), entries())
    next(chunks), next(chunks)
    assert len(read) == reports.statement.ROWS_PER_CHUNK


def broken(change, count=5):
    for entry in journal(count):
        yield change(entry) if entry["seq"] == 3 else entry


@pytest.mark.parametrize("kind", sorted(reports.FORMATS))
@pytest.mark.parametrize("entries, count", [
    (broken(lambda e: dict(e, seq=4)), 5),                                          # a gap
    (broken(lambda e: dict(e, balance_after_cents=e["balance_after_cents"] + 1)), 5),  # a wrong balance
    (journal(4), 5),                                                                  # a short stream
    (journal(6), 5),                                                                  # a long stream
])
def test_a_journal_that_does_not_follow_on_is_refused(kind, entries, count):
    with pytest.raises(JournalMismatch):
        "".join(reports.FORMATS[kind].build(statement(count), entries))


@pytest.mark.parametrize("start, end, name", [
    (None, None, "wallet-wal_1-start-now.csv"),
    (datetime(2024, 1, 1), datetime(2024, 2, 1), "wallet-wal_1-2024-01-01-2024-02-01.csv"),
    (datetime(2024, 1, 1, 12, 30), datetime(2024, 1, 1, 12, 30, 5, 250_000),
     "wallet-wal_1-2024-01-01T123000Z-2024-01-01T123005.250Z.csv"),
])
def test_file_names(start, end, name):
    assert reports.filename(statement(0, start=start, end=end), "csv") == name


def test_the_builders_import_neither_flask_nor_pymongo():
    import ast
    import pathlib

    imported = set()
    for path in pathlib.Path(reports.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
    assert "csv" in imported and "json" in imported  # the walk does see the imports
    assert not imported & {"flask", "werkzeug", "pymongo", "bson", "mongomock"}
