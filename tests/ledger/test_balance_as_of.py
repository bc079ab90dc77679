"""GET /wallets/{id}/balance?at=|seq=: the balance as of a moment, cut as the statement cuts."""
import json
from datetime import datetime, timedelta

import pytest

from app.ledger import units

START = datetime(2026, 11, 30, 12, 0, 0)


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@pytest.fixture
def history(api, monkeypatch):
    """A wallet with entries at START + 1 h, + 2 h, + 3 h: balances 10.00, 7.50, 107.50."""
    clock = [START]
    monkeypatch.setattr(units, "now", lambda: clock[0])
    _, alice, alice_wallet = api.member()
    _, _, bob_wallet = api.member()
    for hours, move in ((1, lambda: api.deposit(alice_wallet, "10.00")),
                        (2, lambda: api.transfer(alice, alice_wallet, bob_wallet, "2.50")),
                        (3, lambda: api.deposit(alice_wallet, "100.00"))):
        clock[0] = START + timedelta(hours=hours)
        assert move().status_code == 201
    return alice, alice_wallet


def balance(client, headers, wallet_id, **query):
    response = client.get(f"/wallets/{wallet_id}/balance", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def opening(client, headers, wallet_id, moment):
    response = client.get(f"/wallets/{wallet_id}/report",
                          query_string={"format": "json", "from": stamp(moment)}, headers=headers)
    assert response.status_code == 200
    return json.loads(response.get_data(as_text=True))["opening_balance"]


@pytest.mark.parametrize("offset, expected_seq, expected", [
    (timedelta(minutes=30), 0, "0.00"),                      # before the first entry
    (timedelta(hours=1, minutes=-1), 0, "0.00"),
    (timedelta(hours=1, minutes=30), 1, "10.00"),            # between entries
    (timedelta(hours=2, milliseconds=-1), 1, "10.00"),
    (timedelta(hours=2, minutes=59), 2, "7.50"),
    (timedelta(days=30), 3, "107.50")])                      # after the last
def test_before_and_between_entries_it_is_the_statements_opening(
        client, history, offset, expected_seq, expected):
    alice, wallet_id = history
    moment = START + offset
    body = balance(client, alice, wallet_id, at=stamp(moment))
    assert body == {"wallet_id": wallet_id, "balance": expected, "seq": expected_seq, "at": stamp(moment)}
    assert opening(client, alice, wallet_id, moment) == expected


@pytest.mark.parametrize("hours, expected_seq, expected", [(1, 1, "10.00"), (2, 2, "7.50"),
                                                           (3, 3, "107.50")])
def test_at_an_entry_it_counts_and_opens_the_statement_a_millisecond_later(
        client, history, hours, expected_seq, expected):
    alice, wallet_id = history
    moment = START + timedelta(hours=hours)
    assert balance(client, alice, wallet_id, at=stamp(moment))["seq"] == expected_seq
    assert balance(client, alice, wallet_id, at=stamp(moment))["balance"] == expected
    assert opening(client, alice, wallet_id, moment + timedelta(milliseconds=1)) == expected
    # An offset and a sub-millisecond part name the same moment the same way.
    local = (moment + timedelta(hours=2, microseconds=400)).strftime("%Y-%m-%dT%H:%M:%S.%f+02:00")
    assert balance(client, alice, wallet_id, at=local)["seq"] == expected_seq


def test_by_seq(client, api, history):
    alice, wallet_id = history
    assert balance(client, alice, wallet_id, seq="0") == {
        "wallet_id": wallet_id, "balance": "0.00", "seq": 0, "at": None}
    assert balance(client, api.operator, wallet_id, seq="2") == {
        "wallet_id": wallet_id, "balance": "7.50", "seq": 2, "at": stamp(START + timedelta(hours=2))}
    assert balance(client, alice, wallet_id, seq="99")["seq"] == 3  # at or before: the last one


@pytest.mark.parametrize("query, field", [({}, "at"), ({"at": "2026-01-01", "seq": "1"}, "at"),
                                          ({"at": "yesterday"}, "at"), ({"seq": "-1"}, "seq"),
                                          ({"seq": "1.5"}, "seq"), ({"seq": str(2**63)}, "seq")])
def test_bad_queries(client, history, query, field):
    alice, wallet_id = history
    response = client.get(f"/wallets/{wallet_id}/balance", query_string=query, headers=alice)
    assert response.status_code == 400 and response.json["code"] == "validation_failed"
    assert [e["field"] for e in response.json["errors"]] == [field]


def test_only_readers_see_it(client, api, history):
    _, wallet_id = history
    _, bob, _ = api.member()
    assert client.get(f"/wallets/{wallet_id}/balance?seq=1", headers=bob).status_code == 404
    assert client.get(f"/wallets/{wallet_id}/balance?seq=1").status_code == 401
