"""GET /openapi.json and /docs: a valid OpenAPI 3.1 document that matches the routes and reality."""
import json
import re

import pytest
from openapi_spec_validator import validate

from app.web import openapi
from app.web.validation import SCHEMA_DIR, read_schema
from tests.conftest import OPERATOR_TOKEN, make_app
from tests.support.contract import Document

# Routes that are not API operations, each with the reason.
UNDOCUMENTED = {("GET", "/docs/{path}"): "Swagger UI's own asset files"}
CONSOLE = "/console/"  # the operators' HTML pages (app/console), not API operations
CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def route_mismatches(app, document):
    """(routes the document lacks, documented operations no route serves)."""
    routes = {(method, CONVERTER.sub(r"{\1}", rule.rule))
              for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}
              if not rule.rule.startswith(CONSOLE)}
    documented = {(method.upper(), path)
                  for path, operations in document["paths"].items() for method in operations}
    return routes - documented - set(UNDOCUMENTED), documented - routes


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def test_document_is_valid_openapi_3_1(document):
    validate(document)  # raises on any violation of the OpenAPI 3.1 meta-schema or a dangling $ref
    assert document["openapi"] == "3.1.0"


def test_every_route_is_documented_and_every_documented_operation_exists(app, document):
    undocumented, missing = route_mismatches(app, document)
    assert not undocumented, f"add these routes to app/web/endpoints.py: {sorted(undocumented)}"
    assert not missing, f"documented but no route serves them: {sorted(missing)}"


def test_a_new_undocumented_route_is_caught():
    app = make_app()
    app.add_url_rule("/undocumented", "undocumented", lambda: {})
    undocumented, missing = route_mismatches(app, app.extensions["openapi"])
    assert undocumented == {("GET", "/undocumented")}
    assert not missing


def test_request_bodies_are_the_schema_files_themselves(document):
    schemas = document["components"]["schemas"]
    files = sorted(SCHEMA_DIR.glob("*.json"))
    assert files
    titles = {path.name: json.loads(path.read_text())["title"] for path in files}
    titles.update((path.name, json.loads(path.read_text())["title"])
                  for path in (SCHEMA_DIR / "responses").glob("*.json"))
    for path in files:
        on_disk = read_schema(path)  # the ledger's tables filled in, as the app reads it
        title = on_disk.pop("title")
        on_disk.pop("$schema"), on_disk.pop("$id")
        # A $ref to a shared definition (defs.json) is pointed into components, nothing else changes.
        on_disk = openapi._point_refs(on_disk, title, titles)
        assert dict(schemas[title], title=None) == dict(on_disk, title=None), path.name


def test_every_example_validates_against_its_schema(document):
    doc = Document(document)
    examples = doc.examples()
    assert len(examples) > 60, "the walk over the document found too few examples"
    failures = [(pointer, example, errors) for pointer, example in examples
                if (errors := doc.errors(pointer, example))]
    assert not failures


def test_a_wrong_example_is_caught(document):
    document["components"]["schemas"]["Wallet"]["examples"][0]["balance"] = "12.3"
    document["paths"]["/transfers"]["post"]["requestBody"]["content"]["application/json"][
        "example"]["amount"] = "0.00"
    doc = Document(document)
    wrong = {pointer for pointer, example in doc.examples() if doc.errors(pointer, example)}
    assert wrong == {"/components/schemas/Wallet",
                     "/paths/~1transfers/post/requestBody/content/application~1json/schema"}


def test_problem_responses_name_their_codes(document):
    transfer = document["paths"]["/transfers"]["post"]["responses"]
    codes = transfer["422"]["content"]["application/problem+json"]["schema"]["allOf"][1]
    assert codes["properties"]["code"]["enum"] == [
        "idempotency_key_reused", "wallet_not_found", "accounts_must_be_different", "insufficient_funds",
        "limit_exceeded", "wallet_frozen", "wallet_closed"]
    assert set(transfer) == {"201", "400", "401", "403", "404", "413", "415", "422", "429", "503"}
    assert "503" not in document["paths"]["/health"]["get"]["responses"]
    assert document["paths"]["/wallets/{wallet_id}"]["get"]["security"] == [
        {"clientBearer": []}, {"operatorBearer": []}, {"apiKeyBearer": ["wallets:read"]}]
    assert document["paths"]["/health"]["get"]["security"] == []


def test_docs_page_uses_only_local_assets(client):
    assert client.get("/docs").headers["Location"].endswith("/docs/")
    page = client.get("/docs/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/docs/swagger-ui-bundle.js" in assets and "/docs/swagger-ui.css" in assets
    for asset in assets:
        assert asset.startswith("/docs/"), asset
        assert client.get(asset).status_code == 200, asset
    assert '"url": "/openapi.json"' in html
    assert '"validatorUrl": null' in html
    absolute = re.findall(r"https?://[^\s\"'<>]+", html)
    assert absolute == ["http://localhost/docs/oauth2-redirect.html"]  # this server, not a CDN


def test_a_missing_docs_asset_is_a_problem_404(client):
    response = client.get("/docs/nope.js")
    assert response.status_code == 404
    assert response.json["code"] == "not_found"


def test_operator_token_is_not_in_the_document(client):
    assert OPERATOR_TOKEN not in client.get("/openapi.json").get_data(as_text=True)
