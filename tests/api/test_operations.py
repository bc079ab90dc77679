"""Operations endpoints: /health, /ready and /metrics, and the store counters behind them."""
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import OPERATOR_TOKEN, Api, make_app


def scrape(client):
    """{(sample name, labels as a sorted tuple): value} from GET /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def test_ready_when_the_database_answers(client):
    assert client.get("/ready").json == {"status": "ready"}


def test_not_ready_when_it_does_not(app, client, monkeypatch):
    monkeypatch.setattr(app.extensions["storage"], "ping", lambda: False)
    response = client.get("/ready")
    assert response.status_code == 503 and response.content_type == "application/problem+json"
    assert response.json["code"] == "not_ready"
    assert client.get("/health").status_code == 200  # the process itself is still up


def test_requests_are_counted_and_timed_per_route_and_status(client):
    _, headers, wallet_id = Api(client).member()
    for _ in range(2):
        client.get(f"/wallets/{wallet_id}", headers=headers)
    client.get("/wallets/wal_nope", headers=headers)
    client.get("/nowhere/1")
    client.get("/nowhere/2")
    samples = scrape(client)
    route = ("route", "/wallets/<wallet_id>")
    assert samples[("wallet_http_requests_total", (("method", "GET"), route, ("status", "200")))] == 2
    assert samples[("wallet_http_requests_total", (("method", "GET"), route, ("status", "404")))] == 1
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert samples[("wallet_http_requests_total", unmatched)] == 2  # raw paths never become labels
    count = samples[("wallet_http_request_duration_seconds_count", (("method", "GET"), route,
                                                                    ("status", "200")))]
    inf_bucket = samples[("wallet_http_request_duration_seconds_bucket", (
        ("le", "+Inf"), ("method", "GET"), route, ("status", "200")))]
    assert count == inf_bucket == 2


def test_transfers_by_outcome_money_moved_and_replays(client):
    api = Api(client)
    _, payer, source = api.member(balance="10.00")
    _, _, target = api.member()
    key = {"Idempotency-Key": "pay-1"}
    assert api.transfer(payer, source, target, "2.50", **key).status_code == 201
    assert api.transfer(payer, source, target, "2.50", **key).headers["Idempotent-Replayed"] == "true"
    assert api.transfer(payer, source, target, "1.25").status_code == 201
    assert api.transfer(payer, source, target, "99.00").status_code == 422
    assert api.transfer(payer, source, source, "1.00").status_code == 422
    samples = scrape(client)
    outcomes = {labels[0][1]: value for (name, labels), value in samples.items()
                if name == "wallet_transfers_total"}
    assert outcomes == {"completed": 2, "insufficient_funds": 1, "accounts_must_be_different": 1}
    assert samples[("wallet_moved_cents_total", (("kind", "transfer"),))] == 375
    assert samples[("wallet_moved_cents_total", (("kind", "deposit"),))] == 1000
    assert samples[("wallet_idempotent_replays_total", (("route", "/transfers"),))] == 1
    assert not [name for name, _ in samples if name.endswith("_created")]


def test_retries_and_conflicts_are_read_from_the_store_at_scrape_time(app, client):
    samples = scrape(client)
    assert samples[("wallet_transaction_retries_total", ())] == 0
    assert samples[("wallet_write_conflicts_total", (("account_class", "wallet"),))] == 0
    store = app.extensions["storage"]
    store.transaction_retries = 7
    store.write_conflicts.update(wallet=5, system=2)
    samples = scrape(client)
    assert samples[("wallet_transaction_retries_total", ())] == 7
    assert samples[("wallet_write_conflicts_total", (("account_class", "wallet"),))] == 5
    assert samples[("wallet_write_conflicts_total", (("account_class", "system"),))] == 2


def test_each_app_has_its_own_registry():
    first, second = make_app().test_client(), make_app().test_client()
    first.get("/health")
    health = ("wallet_http_requests_total", (("method", "GET"), ("route", "/health"), ("status", "200")))
    assert scrape(first)[health] == 1
    assert health not in scrape(second)


def test_metrics_carry_no_secrets(client):
    Api(client).member(balance="1.00")
    text = client.get("/metrics").get_data(as_text=True)
    assert "wallet_http_requests_total" in text
    assert OPERATOR_TOKEN not in text and "test-secret" not in text and "cli_" not in text
