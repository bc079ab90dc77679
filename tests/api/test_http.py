"""The HTTP contract: every error is problem+json with a stable code, never a 500."""
import pytest

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    assert PROBLEM_KEYS <= set(response.json)
    assert response.json["status"] == status
    assert response.json["code"] == code


def test_health_names_the_engine(app, client):
    engine = "mongodb" if app.config["MONGO_URI"] else "embedded"
    assert client.get("/health").json == {"status": "ok", "engine": engine}


@pytest.mark.parametrize("data", [b"{", b"", b"nul", b'{"a": NaN}', b"\xff\xfe",
                                  # lone surrogates: valid JSON syntax, but no UTF-8 (or BSON) holds them
                                  b'{"email": "a@b.cd", "name": "\\ud800", "password": "password123"}',
                                  b'{"\\udfff": 1}', b'[["x\\ud83d"]]',
                                  # nested deeper than the parser goes (was a RecursionError, a 500)
                                  b"[" * 990 + b"]" * 990, b'{"a":' * 5000 + b"0" + b"}" * 5000],
                         ids=["open", "empty", "nul", "nan", "not-utf8", "lone-surrogate",
                              "lone-surrogate-key", "lone-surrogate-nested", "deep-990", "deep-5000"])
def test_malformed_json(client, data):
    response = client.post("/clients", data=data, content_type="application/json")
    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type(client, content_type):
    response = client.post("/clients", data='{"email": "a@b.c"}', content_type=content_type)
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("body", ["[]", '"text"', "5", "null"])
def test_body_that_is_not_an_object(client, body):
    response = client.post("/clients", data=body, content_type="application/json")
    assert_problem(response, 400, "validation_failed")
    assert response.json["errors"][0]["field"] == ""


def test_unknown_route_and_method(client):
    assert_problem(client.get("/nowhere"), 404, "not_found")
    response = client.delete("/clients")
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_unexpected_error_is_a_bare_500(app, client, monkeypatch):
    from app import ledger

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(ledger, "get_wallet", explode)
    response = client.get("/wallets/wal_x", headers={"Authorization": "Bearer test-operator-token"})
    assert_problem(response, 500, "internal_error")
    assert "secret internals" not in response.get_data(as_text=True)


def test_oversized_body_is_refused_before_reading(client):
    response = client.post("/clients", data=b"{" + b" " * 70_000 + b"}", content_type="application/json")
    assert_problem(response, 413, "payload_too_large")
