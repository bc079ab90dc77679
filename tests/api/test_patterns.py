"""Every pattern in schemas/ matches the whole input, as ECMA-262 (JSON Schema's dialect) reads it.

Python's ``$`` also matches before a final newline: "1.5\\n" once passed the amount pattern and
moved 1.05. These tests walk every pattern with the inputs that class of bug lets through.
"""
import json
import pathlib

import pytest

from app.money import parse_cents
from app.web.validation import SCHEMA_DIR, SchemaValidator

DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")  # Arabic-Indic digits
EDGES = ["\n", "\r", "\r\n", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c", " "]


def _patterns():
    """(file, property path, pattern, examples) for every patterned string in schemas/."""
    found = []

    def walk(node, path, source):
        if isinstance(node, dict):
            if "pattern" in node:
                found.append((source, path, node["pattern"], node.get("examples", [])))
            for key, value in node.items():
                walk(value, f"{path}/{key}", source)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}", source)

    for path in sorted(pathlib.Path(SCHEMA_DIR).rglob("*.json")):
        walk(json.loads(path.read_text()), "", path.name)
    return found


PATTERNS = _patterns()


def _matches(pattern, text):
    return SchemaValidator({"type": "string", "pattern": pattern}).is_valid(text)


def test_the_walk_finds_the_patterns():
    names = {source for source, *_ in PATTERNS}
    assert {"defs.json", "client_create.json", "common.json"} <= names


@pytest.mark.parametrize("source, path, pattern, examples", PATTERNS,
                         ids=[f"{s}{p}" for s, p, *_ in PATTERNS])
def test_pattern_matches_whole_input_only(source, path, pattern, examples):
    assert pattern.startswith("^") and pattern.endswith("$"), "anchor both ends"
    assert "\\d" not in pattern, "write [0-9]: Python's \\d matches every script's digits"
    assert examples, "give an example, so this test can try its neighbours"
    for example in examples:
        assert _matches(pattern, example), example
        for edge in EDGES:
            assert not _matches(pattern, example + edge), repr(example + edge)
            assert not _matches(pattern, edge + example), repr(edge + example)
        # Only a pattern that speaks of digits means ASCII ones; free text may hold any script's.
        if "[0-9]" in pattern and any(c.isdigit() for c in example):
            assert not _matches(pattern, example.translate(DIGITS)), example.translate(DIGITS)


@pytest.mark.parametrize("text", ["1.5\n", "1.5\r\n", "\n1.5", "1.5\u2028", "١.٥", "1.5 "])
def test_amount_text_refuses_neighbours(text):
    with pytest.raises(ValueError):
        parse_cents(text)


@pytest.mark.parametrize("amount", ["1.5\n", "1.50\n", "10\n", "1.5\u2029"])
def test_deposit_and_transfer_refuse_a_final_newline(api, amount):
    _, headers, wallet_id = api.member(balance="10.00")
    _, _, other_id = api.member()
    response = api.deposit(wallet_id, amount)
    assert response.status_code == 400, response.json
    assert response.json["errors"][0]["field"] == "/amount"
    response = api.transfer(headers, wallet_id, other_id, amount)
    assert response.status_code == 400, response.json
    assert api.balance(headers, wallet_id) == "10.00"


def test_signup_refuses_an_email_with_a_final_newline(api, client):
    api.signup(email="ada@example.com")
    response = client.post("/clients", json={"email": "ada@example.com\n", "name": "Ada",
                                             "password": "password123"})
    assert response.status_code == 400, response.json
    assert response.json["errors"][0]["field"] == "/email"
