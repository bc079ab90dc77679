"""Request bodies an attacker shapes: control characters, loose emails, repeated keys, chunked bodies."""
import io
import json

import pytest

CONTROLS = ["\x00", "\x1b", "\x07", "\t", "\x7f", "\x85", "\x9b", "\u2028"]


def _post(client, path, raw, headers=None, **extra):
    return client.post(path, data=raw, content_type="application/json", headers=headers or {}, **extra)


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_signup_refuses_control_characters_in_name_and_email(client, control):
    response = client.post("/clients", json={"email": f"ada{control}x@example.com",
                                             "name": f"Ada{control}Lovelace", "password": "password123"})
    assert response.status_code == 400, response.json
    assert response.json["code"] == "validation_failed"
    assert {e["field"] for e in response.json["errors"]} == {"/email", "/name"}


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_deposit_and_transfer_refuse_control_characters_in_details(api, control):
    _, headers, wallet_id = api.member(balance="10.00")
    _, _, other_id = api.member()
    details = f"invoice{control}1042"
    response = api.client.post(f"/wallets/{wallet_id}/deposits", headers=api.operator,
                               json={"amount": "1.00", "details": details})
    assert response.status_code == 400, response.json
    assert [e["field"] for e in response.json["errors"]] == ["/details"]
    response = api.client.post("/transfers", headers=headers, json={
        "from_wallet_id": wallet_id, "to_wallet_id": other_id, "amount": "1.00", "details": details})
    assert response.status_code == 400, response.json
    assert [e["field"] for e in response.json["errors"]] == ["/details"]
    assert api.balance(headers, wallet_id) == "10.00"


def test_ordinary_text_still_passes(api):
    body = api.signup(name="Zoë O'Brien-Łukasz 李")
    response = api.client.post(f"/wallets/{body['wallet']['id']}/deposits", headers=api.operator,
                               json={"amount": "1.00", "details": "invoice 1042, \"net 30\" — ok"})
    assert response.status_code == 201, response.json
    assert body["name"] == "Zoë O'Brien-Łukasz 李"


@pytest.mark.parametrize("email", ["ada@localhost", "a..b@example.com", "ada.@example.com",
                                   "ada@-example.com", "ada@example..com", "ada@exa_mple.com"])
def test_signup_refuses_what_an_address_parser_refuses(client, email):
    response = client.post("/clients", json={"email": email, "name": "Ada", "password": "password123"})
    assert response.status_code == 400, response.json
    assert [e["field"] for e in response.json["errors"]] == ["/email"]


def test_email_stays_unique_without_case(api, client):
    api.signup(email="ada@example.com")
    response = client.post("/clients", json={"email": "ADA@Example.COM", "name": "Ada",
                                             "password": "password123"})
    assert response.status_code == 409, response.json


def test_a_repeated_key_is_malformed_json_and_moves_nothing(api):
    _, headers, wallet_id = api.member(balance="100.00")
    _, _, other_id = api.member()
    raw = ('{"from_wallet_id": "%s", "to_wallet_id": "%s", "amount": "1.00", "amount": "90.00"}'
           % (wallet_id, other_id))
    response = _post(api.client, "/transfers", raw, headers)
    assert response.status_code == 400, response.json
    assert response.json["code"] == "malformed_json"
    assert "'amount' appears more than once" in response.json["detail"]
    assert api.balance(headers, wallet_id) == "100.00"


def test_a_repeated_key_in_a_nested_object_is_refused_too(client):
    response = _post(client, "/clients", '{"email": "a@example.com", "name": {"x": 1, "x": 2}}')
    assert response.json["code"] == "malformed_json"


def _chunked(client, body):
    """A body without Content-Length, as a server that de-chunks it hands it over (WSGI 1.0 + PEP 3333)."""
    return client.post("/clients", input_stream=io.BytesIO(body), content_type="application/json",
                       headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


def test_a_chunked_body_over_the_limit_is_413_not_cut(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    valid = json.dumps({"email": "pad@example.com", "name": "Pad", "password": "password123"}).encode()
    response = _chunked(client, valid + b" " * limit)
    assert response.status_code == 413, response.json
    assert response.json["code"] == "payload_too_large"
    assert client.post("/auth/token", json={"email": "pad@example.com",
                                            "password": "password123"}).status_code == 401


def test_a_chunked_body_of_exactly_the_limit_is_read_whole(app, client):
    valid = json.dumps({"email": "edge@example.com", "name": "Edge", "password": "password123"}).encode()
    response = _chunked(client, valid + b" " * (app.config["MAX_CONTENT_LENGTH"] - len(valid)))
    assert response.status_code == 201, response.json


@pytest.mark.parametrize("value, seconds", [(5.0, 60.0), (5.5, 60.5), (True, True)])
def test_an_integer_field_refuses_a_float_or_a_boolean(api, client, value, seconds):
    """JSON Schema counts 5.0 as an integer; a float reaching a quota's slot draw or an expiry
    would be a 500 or a fraction of a second, so anything but a whole number is 400."""
    limits = {"max_clients": value, "max_api_keys": 10, "max_webhook_endpoints": 10,
              "max_pending_payment_requests": 100}
    response = client.post("/tenants", json={"name": "T", "service_limits": limits}, headers=api.operator)
    assert (response.status_code, [e["field"] for e in response.json["errors"]]) == (
        400, ["/service_limits/max_clients"])
    _, headers, wallet_id = api.member(balance="10.00")
    _, _, other_id = api.member()
    response = client.post("/holds", headers=headers, json={
        "from_wallet_id": wallet_id, "to_wallet_id": other_id, "amount": "1.00", "expires_in_s": seconds})
    assert (response.status_code, [e["field"] for e in response.json["errors"]]) == (400, ["/expires_in_s"])
    assert api.balance(headers, wallet_id) == "10.00"
