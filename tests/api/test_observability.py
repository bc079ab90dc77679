"""Request logs: one JSON line per request, followed by its X-Request-ID, never a secret."""
import io
import json
import logging
import re

import pytest

from app.web import observability
from tests.conftest import OPERATOR_TOKEN, Api

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture
def logs(app):
    """The JSON lines the app writes from now on, parsed, via the handler create_app installs."""
    buffer = io.StringIO()
    observability.configure_logging(app.config, stream=buffer)
    return lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]


def request_lines(lines):
    return [line for line in lines if line["message"] == "request"]


def test_one_line_per_request_with_its_fields(client, logs):
    body, headers, wallet_id = Api(client).member()
    response = client.get(f"/wallets/{wallet_id}", headers=headers)
    line = request_lines(logs())[-1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert (line["level"], line["method"], line["route"], line["status"]) == (
        "info", "GET", "/wallets/<wallet_id>", 200)
    assert line["caller"] == body["id"] and line["code"] is None
    assert isinstance(line["duration_ms"], float) and 0 <= line["duration_ms"] < 10_000
    assert len(request_lines(logs())) == 3  # sign-up, log-in, this read


def test_the_caller_is_the_operator_a_client_or_nobody(client, logs):
    body, headers, _ = Api(client).member()
    client.get("/audit", headers=OPERATOR)
    client.get("/audit", headers=headers)
    client.get("/health")
    assert [(line["caller"], line["status"]) for line in request_lines(logs())[2:]] == [
        ("operator", 200), (body["id"], 403), (None, 200)]


@pytest.mark.parametrize("incoming", ["abc-123", "trace.7:span_9", "x" * 128])
def test_a_plain_incoming_request_id_is_kept(client, logs, incoming):
    response = client.get("/health", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    assert request_lines(logs())[-1]["request_id"] == incoming


@pytest.mark.parametrize("incoming", ["", "x" * 129, "a b", "id;drop", "<script>", "é"])
def test_any_other_request_id_is_replaced(client, logs, incoming):
    response = client.get("/health", headers={"X-Request-ID": incoming})
    generated = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert request_lines(logs())[-1]["request_id"] == generated


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_refusals_are_logged_with_their_code(client, logs):
    response = client.get("/nowhere/at/all")
    client.get("/wallets/wal_x", headers={"Authorization": "Bearer forged"})
    first, second = request_lines(logs())
    assert (first["route"], first["status"], first["code"]) == ("unmatched", 404, "not_found")
    assert first["request_id"] == response.headers["X-Request-ID"]
    assert (second["route"], second["status"], second["code"]) == (
        "/wallets/<wallet_id>", 401, "unauthenticated")


def test_an_unexpected_error_logs_its_trace_with_the_request_id(client, logs, monkeypatch):
    from app import ledger

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ledger, "get_wallet", explode)
    response = client.get("/wallets/wal_x", headers=OPERATOR | {"X-Request-ID": "req-500"})
    assert response.status_code == 500 and response.headers["X-Request-ID"] == "req-500"
    trace, request_line = logs()
    assert (trace["message"], trace["level"], trace["request_id"]) == ("unhandled error", "error", "req-500")
    assert "RuntimeError: disk on fire" in trace["exception"]
    assert (request_line["status"], request_line["level"], request_line["code"]) == (
        500, "error", "internal_error")


def test_no_password_token_or_secret_is_ever_logged(app, client, logs, monkeypatch):
    api = Api(client)
    password = "correct horse battery staple"
    body = api.signup(password=password)
    headers = api.login(body["email"], password=password)
    client_token = headers["Authorization"].split()[1]
    wallet_id = body["wallet"]["id"]
    api.deposit(wallet_id, "10.00", **{"Idempotency-Key": "dep-1"})
    _, _, other_wallet = api.member()
    api.transfer(headers, wallet_id, other_wallet, "1.00")
    client.post("/auth/token", json={"email": body["email"], "password": password + "!"})
    client.get(f"/wallets/{wallet_id}", headers={"Authorization": f"Bearer {client_token}x"})
    client.get("/metrics")
    from app import ledger

    def leak(*args, **kwargs):  # an exception whose text carries secrets must not leak them
        raise RuntimeError(f"boom {OPERATOR_TOKEN} Bearer {client_token} {app.config['SECRET_KEY']}")

    monkeypatch.setattr(ledger, "get_wallet", leak)
    client.get(f"/wallets/{wallet_id}", headers=OPERATOR)
    text = "\n".join(json.dumps(line) for line in logs())
    assert len(request_lines(logs())) == 10 and "boom [redacted] Bearer [redacted]" in text
    for secret in [password, client_token, OPERATOR_TOKEN, app.config["SECRET_KEY"], "scrypt:",
                   "Authorization", "authorization"]:
        assert secret not in text, secret


def test_the_formatter_masks_known_secrets_and_bearer_tokens():
    formatter = observability.JsonFormatter(secrets=["s3cret-key", None])
    record = logging.makeLogRecord({"msg": "key s3cret-key, header bearer abc.def-ghi, done",
                                    "levelname": "WARNING", "name": "app.x", "route": "/r"})
    line = json.loads(formatter.format(record))
    assert line["message"] == "key [redacted], header Bearer [redacted], done"
    assert (line["level"], line["logger"], line["route"]) == ("warning", "app.x", "/r")


def test_the_mongodb_password_is_a_secret_too():
    secrets = observability._secrets({"SECRET_KEY": "k", "OPERATOR_TOKEN": "t",
                                      "MONGO_URI": "mongodb://auditor:pa55word@db:27017/?replicaSet=rs0"})
    assert secrets == ["k", "t", "pa55word"]


def test_invented_methods_share_one_metric_label(client):
    """A method name is chosen by the caller: unknown ones must not each add a series."""
    for i in range(40):
        assert client.open("/health", method=f"ZZ{i}").status_code == 405
    text = client.get("/metrics").get_data(as_text=True)
    assert "ZZ" not in text
    assert 'wallet_http_requests_total{method="other",route="unmatched",status="405"} 40.0' in text
