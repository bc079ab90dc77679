"""GET /wallets/{id}/report as HTTP: headers, content negotiation, bad parameters, who may read."""
import pytest

from tests.support.report_facts import report


@pytest.mark.parametrize("kind, content_type", [
    ("csv", "text/csv; charset=utf-8"), ("json", "application/json"), ("xml", "application/xml")])
def test_content_type_and_attachment_name(api, client, kind, content_type):
    _, headers, wallet_id = api.member(balance="1.00")
    period = {"from": "2024-01-01", "to": "2024-02-01T10:30:00Z"}
    response, _ = report(client, headers, wallet_id, kind, **period)
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="wallet-{wallet_id}-2024-01-01-2024-02-01T103000Z.{kind}"')
    assert response.headers["Cache-Control"] == "private, no-store"
    response, _ = report(client, headers, wallet_id, kind)
    assert response.headers["Content-Disposition"].endswith(f'filename="wallet-{wallet_id}-start-now.{kind}"')


@pytest.mark.parametrize("accept, content_type", [
    (None, "application/json"), ("*/*", "application/json"), ("application/json", "application/json"),
    ("text/csv", "text/csv; charset=utf-8"), ("application/xml", "application/xml"),
    ("text/xml", "application/xml"), ("application/json;q=0.5, text/csv", "text/csv; charset=utf-8"),
])
def test_accept_picks_the_format_when_format_is_absent(api, client, accept, content_type):
    _, headers, wallet_id = api.member()
    response = client.get(f"/wallets/{wallet_id}/report", headers=dict(headers, **(
        {"Accept": accept} if accept else {})))
    response.get_data()
    assert (response.status_code, response.headers["Content-Type"]) == (200, content_type)


def test_format_wins_over_accept_and_unknown_accept_is_406(api, client):
    _, headers, wallet_id = api.member()
    response = client.get(f"/wallets/{wallet_id}/report?format=csv",
                          headers=dict(headers, Accept="application/xml"))
    response.get_data()
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    response = client.get(f"/wallets/{wallet_id}/report", headers=dict(headers, Accept="image/png"))
    assert (response.status_code, response.json["code"]) == (406, "not_acceptable")


@pytest.mark.parametrize("query, fields", [
    ("format=pdf", ["format"]), ("format=", ["format"]), ("from=yesterday", ["from"]),
    ("to=2024-13-01", ["to"]), ("from=2024-02-30", ["from"]), ("to=2024-01-01T25:00", ["to"]),
    ("from=2024-01-01T00:00:00 01:00", ["from"]),  # an unescaped + arrives as a space
    ("from=2024-02-01&to=2024-01-01", ["from"]),
    ("from=2024-01-01T00:00:00.001Z&to=2024-01-01", ["from"]),
    ("format=txt&from=x&to=y", ["format", "from", "to"]),
])
def test_bad_parameters_are_400_naming_them(api, client, query, fields):
    _, headers, wallet_id = api.member()
    response = client.get(f"/wallets/{wallet_id}/report?{query}", headers=headers)
    assert (response.status_code, response.content_type) == (400, "application/problem+json")
    assert response.json["code"] == "validation_failed"
    assert [error["field"] for error in response.json["errors"]] == fields


def test_only_the_owner_and_the_operator_read_a_statement(api, client):
    _, owner, wallet_id = api.member(balance="3.00")
    _, stranger, _ = api.member()
    assert report(client, owner, wallet_id)[0].status_code == 200
    assert report(client, api.operator, wallet_id)[0].status_code == 200
    hidden = report(client, stranger, wallet_id, status=404)[0]
    missing = report(client, stranger, "wal_does_not_exist", status=404)[0]
    assert hidden.json == missing.json | {"detail": hidden.json["detail"]}
    assert hidden.json["code"] == "wallet_not_found"
    assert report(client, {}, wallet_id, status=401)[0].json["code"] == "unauthenticated"
    assert report(client, {"Authorization": "Bearer forged"}, wallet_id, status=401)[0].status_code == 401
