import base64

import pytest

BAD_AMOUNTS = ["0", "0.00", "-5", "1.001", "1e3", "", " 1", "1000000000.01", "abc", None, 5, 1.5,
               True, [], {}]


def test_wallet_for_owner_and_operator(api, client):
    body, headers, wallet_id = api.member()
    for who in (headers, api.operator):
        response = client.get(f"/wallets/{wallet_id}", headers=who)
        assert response.status_code == 200
        assert set(response.json) == {"id", "client_id", "currency", "balance", "held",
                                      "available", "version", "created_at", "updated_at", "metadata",
                                      "status", "status_reason"}
        assert response.json["client_id"] == body["id"]
        assert (response.json["status"], response.json["status_reason"]) == ("active", None)


def test_wallet_auth_matrix(api, client):
    _, _, wallet_id = api.member()
    _, stranger, _ = api.member()
    assert client.get(f"/wallets/{wallet_id}").status_code == 401
    hidden = client.get(f"/wallets/{wallet_id}", headers=stranger)
    missing = client.get("/wallets/wal_does_not_exist", headers=stranger)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json["code"] == missing.json["code"] == "wallet_not_found"


def test_deposit_credits_and_journals(api, client):
    _, headers, wallet_id = api.member()
    response = client.post(f"/wallets/{wallet_id}/deposits",
                           json={"amount": "12.34", "details": "opening"}, headers=api.operator)
    assert response.status_code == 201
    assert response.json["balance"] == "12.34"
    assert response.json["type"] == "deposit"
    assert response.json["seq"] == 1
    assert response.json["details"] == "opening"
    api.deposit(wallet_id, "0.66")
    wallet = client.get(f"/wallets/{wallet_id}", headers=headers).json
    assert (wallet["balance"], wallet["version"]) == ("13.00", 2)


def test_deposit_is_for_the_operator_only(api, client):
    _, headers, wallet_id = api.member()
    assert client.post(f"/wallets/{wallet_id}/deposits", json={"amount": "1"}).status_code == 401
    response = client.post(f"/wallets/{wallet_id}/deposits", json={"amount": "1"}, headers=headers)
    assert response.status_code == 403
    assert response.json["code"] == "forbidden"


def test_deposit_to_unknown_wallet(api):
    response = api.deposit("wal_nope", "1.00")
    assert response.status_code == 404
    assert response.json["code"] == "wallet_not_found"


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_deposit_refuses_bad_amounts(api, client, amount):
    _, headers, wallet_id = api.member()
    response = api.deposit(wallet_id, amount)
    assert response.status_code == 400
    assert response.json["code"] == "validation_failed"
    assert response.json["errors"] == [{"field": "/amount", "message": response.json["errors"][0]["message"]}]
    assert '"12.34"' in response.json["errors"][0]["message"]
    assert api.balance(headers, wallet_id) == "0.00"


def test_operations_shape(api, client):
    _, headers, wallet_id = api.member(balance="5.00")
    page = client.get(f"/wallets/{wallet_id}/operations", headers=headers).json
    assert page["has_more"] is False and page["next_cursor"] is None
    (entry,) = page["data"]
    assert set(entry) == {"id", "wallet_id", "seq", "type", "amount", "balance_after",
                          "counterparty_wallet_id", "transfer_id", "details", "created_at"}
    assert (entry["seq"], entry["type"], entry["amount"], entry["balance_after"]) == (
        1, "deposit", "5.00", "5.00")


def test_pagination_walks_a_long_history(api, client):
    _, headers, wallet_id = api.member()
    for i in range(1, 131):
        api.deposit(wallet_id, f"{i}.00")
    seen, cursor, pages = [], None, 0
    while True:
        url = f"/wallets/{wallet_id}/operations?limit=25" + (f"&after={cursor}" if cursor else "")
        page = client.get(url, headers=headers).json
        pages += 1
        seen += [entry["seq"] for entry in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert pages == 6
    assert seen == list(range(130, 0, -1))


def test_default_page_is_twenty(api, client):
    _, headers, wallet_id = api.member()
    for _ in range(21):
        api.deposit(wallet_id, "1")
    page = client.get(f"/wallets/{wallet_id}/operations", headers=headers).json
    assert len(page["data"]) == 20 and page["has_more"] is True


@pytest.mark.parametrize("query, code", [
    ("limit=0", "validation_failed"), ("limit=101", "validation_failed"),
    ("limit=abc", "validation_failed"), ("limit=%C2%B2", "validation_failed"),
    ("after=!!!", "invalid_cursor"), ("after=c2VxOmFiYw", "invalid_cursor"),
    # seq 2**63 and 5000 nines: MongoDB cannot hold them (a 500 there), int() refuses the second
    ("after=" + base64.urlsafe_b64encode(b"seq:9223372036854775808").decode(), "invalid_cursor"),
    ("after=" + base64.urlsafe_b64encode(b"seq:" + b"9" * 5000).decode(), "invalid_cursor"),
])
def test_operations_bad_query(api, client, query, code):
    _, headers, wallet_id = api.member()
    response = client.get(f"/wallets/{wallet_id}/operations?{query}", headers=headers)
    assert response.status_code == 400
    assert response.json["code"] == code


def test_operations_of_someone_elses_wallet(api, client):
    _, _, wallet_id = api.member(balance="1.00")
    _, stranger, _ = api.member()
    assert client.get(f"/wallets/{wallet_id}/operations", headers=stranger).status_code == 404
    assert client.get(f"/wallets/{wallet_id}/operations").status_code == 401
