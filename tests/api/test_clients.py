import logging

import pytest


def test_signup_returns_client_with_empty_usd_wallet(client):
    response = client.post("/clients", json={"email": "Ada@Example.com", "name": "Ada",
                                             "password": "password123"})
    assert response.status_code == 201
    body = response.json
    assert set(body) == {"id", "email", "name", "created_at", "wallet", "metadata"}
    assert body["email"] == "Ada@Example.com"
    assert body["wallet"]["currency"] == "USD"
    assert body["wallet"]["balance"] == "0.00"
    assert body["wallet"]["version"] == 0
    assert body["wallet"]["client_id"] == body["id"]


def test_no_password_or_hash_in_response_or_log(client, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.post("/clients", json={"email": "a@example.com", "name": "A",
                                             "password": "s3cret-passw0rd"})
    text = response.get_data(as_text=True)
    assert "s3cret-passw0rd" not in text and "scrypt" not in text and "password" not in text
    assert "s3cret-passw0rd" not in caplog.text


def test_email_is_unique_case_insensitively(client):
    first = client.post("/clients", json={"email": "bo@example.com", "name": "Bo",
                                          "password": "password123"})
    again = client.post("/clients", json={"email": "BO@example.COM", "name": "Bo",
                                          "password": "password123"})
    assert first.status_code == 201
    assert again.status_code == 409
    assert again.json["code"] == "email_taken"


def test_signup_reports_every_violation_at_once(client):
    response = client.post("/clients", json={"email": "nope", "password": "short", "extra": 1})
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    fields = {e["field"] for e in response.json["errors"]}
    assert fields == {"/email", "/name", "/password", "/extra"}


def test_token_and_me(api, client):
    body = api.signup(email="cy@example.com")
    headers = api.login("CY@example.com")
    me = client.get("/clients/me", headers=headers)
    assert me.status_code == 200
    assert me.json["id"] == body["id"]
    assert me.json["wallet"]["id"] == body["wallet"]["id"]


def test_token_response_shape(api, client):
    api.signup(email="dee@example.com")
    response = client.post("/auth/token", json={"email": "dee@example.com",
                                                "password": "password123"})
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == 3600
    assert response.json["access_token"]


def test_wrong_email_and_wrong_password_look_the_same(api, client):
    api.signup(email="eve@example.com")
    wrong_password = client.post("/auth/token", json={"email": "eve@example.com",
                                                      "password": "not-the-one"})
    wrong_email = client.post("/auth/token", json={"email": "nobody@example.com",
                                                   "password": "password123"})
    assert wrong_password.status_code == wrong_email.status_code == 401
    assert wrong_password.json == wrong_email.json


def test_me_needs_a_client_token(client, api):
    assert client.get("/clients/me").status_code == 401
    assert client.get("/clients/me", headers={"Authorization": "Bearer forged"}).status_code == 401
    assert client.get("/clients/me", headers=api.operator).status_code == 403


def test_expired_token_is_refused(app, api, client):
    body = api.signup()
    headers = api.login(body["email"])
    app.extensions["auth"].lifetime_s = -1
    response = client.get("/clients/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_token_signed_with_another_key_is_refused(api, client):
    from itsdangerous import URLSafeTimedSerializer
    body = api.signup()
    forged = URLSafeTimedSerializer("other-key", salt="access-token").dumps({"sub": body["id"]})
    assert client.get("/clients/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


@pytest.mark.parametrize("claims", [{"sub": None}, {}, [], "cli_x", {"sub": 5}, {"sub": "op_1"}])
def test_token_with_claims_never_issued_is_refused(app, client, claims):
    """Signed with the right key but not by /auth/token: 401, never the operator, never a 500."""
    from itsdangerous import URLSafeTimedSerializer
    forged = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="access-token").dumps(claims)
    response = client.get("/wallets/wal_x", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json["code"] == "unauthenticated"
