"""Every timestamp parameter has a range, and every year 1 to 9999 renders as ISO 8601 (issue 29,
findings 4 and 5): a value out of range, or one whose next millisecond does not exist, is 400
``validation_failed``, never 500; a year below 1000 keeps its four digits."""
import json
from datetime import datetime

import pytest

from app import render
from app.web.pagination import position_cursor, read_position_cursor

# ?at= counts the entries of its own millisecond: the cut is the next millisecond, which must exist.
BAD_AT = ["9999-12-31T23:59:59.999999", "9999-12-31T23:59:59.999", "9999-12-31T23:59:59.999+00:00",
          "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+00:01", "10000-01-01", "0000-12-31",
          "+2024-01-01", "2024-01-01\x00"]
BAD_BOUNDS = ["9999-12-31T23:59:59.9995", "9999-12-31T23:59:59.999999", "9999-12-31T22:00:00-05:00",
              "0001-01-01T00:30:00+01:00", "10000-01-01", "0000-01-01"]


@pytest.mark.parametrize("at", BAD_AT)
def test_a_moment_out_of_range_is_400_naming_at(api, client, at):
    _, headers, wallet_id = api.member()
    response = client.get(f"/wallets/{wallet_id}/balance", query_string={"at": at}, headers=headers)
    assert (response.status_code, response.json["code"]) == (400, "validation_failed"), response.json
    assert [e["field"] for e in response.json["errors"]] == ["at"]


@pytest.mark.parametrize("at, shown", [
    ("0001-01-01", "0001-01-01T00:00:00.000Z"), ("0999-12-31T23:59:59.5", "0999-12-31T23:59:59.500Z"),
    ("9999-12-31T23:59:59.998", "9999-12-31T23:59:59.998Z"),
    ("9999-12-31T23:59:59.998999", "9999-12-31T23:59:59.998Z")])
def test_the_first_and_last_moments_answer_in_four_digit_years(api, client, at, shown):
    _, headers, wallet_id = api.member(balance="1.00")
    response = client.get(f"/wallets/{wallet_id}/balance", query_string={"at": at}, headers=headers)
    assert response.status_code == 200, response.json
    assert response.json["at"] == shown
    assert response.json["balance"] == ("0.00" if at.startswith("0") else "1.00")


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", BAD_BOUNDS)
def test_a_period_bound_out_of_range_is_400_naming_it(api, client, name, value):
    _, headers, wallet_id = api.member()
    response = client.get(f"/wallets/{wallet_id}/report", query_string={name: value, "format": "json"},
                          headers=headers)
    assert (response.status_code, response.json["code"]) == (400, "validation_failed"), response.json
    assert [e["field"] for e in response.json["errors"]] == [name]


def test_a_statement_from_year_1_to_year_9999_names_its_period_in_four_digits(api, client):
    _, headers, wallet_id = api.member(balance="2.00")
    query = {"from": "0001-01-01", "to": "9999-12-31T23:59:59.999", "format": "json"}
    response = client.get(f"/wallets/{wallet_id}/report", query_string=query, headers=headers)
    assert response.status_code == 200
    body = json.loads(response.get_data(as_text=True))
    assert body["period"]["from"] == "0001-01-01T00:00:00.000Z"
    assert body["period"]["to"] == "9999-12-31T23:59:59.999Z"
    assert body["closing_balance"] == "2.00"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="wallet-{wallet_id}-0001-01-01-9999-12-31T235959.999Z.json"')


@pytest.mark.parametrize("moment, text", [
    (datetime(1, 1, 1), "0001-01-01T00:00:00.000Z"), (datetime(999, 12, 31, 23, 59, 59, 999999),
                                                      "0999-12-31T23:59:59.999Z"),
    (datetime(2024, 2, 29, 1, 2, 3, 4000), "2024-02-29T01:02:03.004Z"),
    (datetime(9999, 12, 31, 23, 59, 59, 999999), "9999-12-31T23:59:59.999Z")])
def test_every_year_renders_with_four_digits(moment, text):
    assert render.timestamp(moment) == text


@pytest.mark.parametrize("moment", [datetime(1, 1, 1, 0, 0, 0, 7000),
                                    datetime(9999, 12, 31, 23, 59, 59, 999000)])
def test_a_cursor_of_year_1_or_9999_reads_back(moment):
    doc = {"created_at": moment, "_id": "evt_1"}
    assert read_position_cursor(position_cursor(doc, "evt"), "evt") == (moment, "evt_1")
