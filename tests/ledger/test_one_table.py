"""An entry type or an event type is one row of its table in the ledger; everything else follows.

The response schemas, the webhook request schema, the OpenAPI document and the audit's mongosh
pipelines are all read from app/ledger/entry_types.py and app/ledger/events.py when they load.
"""
import json

import mongomock

from app.audit import pipelines
from app.ledger import entry_types, events
from app.web.openapi import build_document
from app.web.validation import SCHEMA_DIR
from tests.conftest import OPERATOR_TOKEN, make_app

GIFT = entry_types.EntryType("gift", entry_types.CREDIT, "balance_cents", "a present from the operator")
GIVEN = events.EventType("gift.given", "the operator gave a wallet a present (data: the gift)")


def entry_type_enums(schemas):
    return [schemas["Operation"]["$defs"]["entry"]["properties"]["type"]["enum"],
            schemas["Statement"]["properties"]["operations"]["items"]["properties"]["type"]["enum"]]


def event_type_enums(document):
    schemas = document["components"]["schemas"]
    return [schemas["Event"]["properties"]["type"]["enum"],
            schemas["Delivery"]["properties"]["event_type"]["enum"],
            document["components"]["parameters"]["type"]["schema"]["enum"]]


def flagged_entries(spec, documents):
    """Ids of entries the pipeline's entry check flags as entry_type_known (a type it does not know)."""
    (check,) = [check for check in spec["checks"] if check["name"] == "entries"]
    collection = mongomock.MongoClient().db.operations
    # The two $lookups need MongoDB 5.0's form (tests/audit/test_audit_pipelines.py emulates it):
    # give each entry the wallet and transfer they would find, and run the stages after them.
    collection.insert_many([dict(document, wallet=[{}], transfer=[{}]) for document in documents])
    return {row["id"] for row in collection.aggregate(check["pipeline"][2:]) if row["entry_type_known"]}


def test_the_schemas_and_the_document_list_the_tables_as_they_are():
    schemas = build_document()["components"]["schemas"]
    assert entry_type_enums(schemas) == [list(entry_types.ENTRY_TYPES)] * 2
    assert event_type_enums(build_document()) == [list(events.EVENT_TYPES)] * 3


def test_a_new_entry_type_reaches_the_schemas_the_document_and_the_pipelines(monkeypatch):
    entries = [{"_id": "op_plus", "type": "gift", "amount_cents": 500, "balance_after_cents": 500},
               {"_id": "op_minus", "type": "gift", "amount_cents": -500, "balance_after_cents": 0}]
    assert flagged_entries(pipelines.spec(), entries) == {"op_plus", "op_minus"}
    monkeypatch.setitem(entry_types.ENTRY_TYPES, GIFT.name, GIFT)
    for enum in entry_type_enums(build_document()["components"]["schemas"]):
        assert enum == [*enum[:-1], "gift"] and enum[:-1] == list(entry_types.ENTRY_TYPES)[:-1]
    spec = pipelines.spec()
    assert flagged_entries(spec, entries) == {"op_minus"}  # a credit: only the wrong sign is broken
    assert spec != json.loads((SCHEMA_DIR.parent / "scripts" / "audit_pipelines.json").read_text())


def test_a_new_event_type_reaches_the_schemas_the_document_and_the_validator(monkeypatch):
    monkeypatch.setitem(events.EVENT_TYPES, GIVEN.name, GIVEN)
    document = build_document()
    for enum in event_type_enums(document):
        assert enum[-1] == "gift.given"
    schemas = document["components"]["schemas"]
    for title in ("WebhookEndpoint", "WebhookEndpointCreate"):
        assert schemas[title]["properties"]["events"]["items"]["enum"] == ["*", *events.EVENT_TYPES]
    app = make_app()
    validator = app.extensions["validators"]["webhook_endpoint_create"]
    assert validator.is_valid({"url": "https://shop.example.com/hooks", "events": ["gift.given"]})
    answer = app.test_client().post(
        "/webhook-endpoints", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        json={"url": "https://shop.example.com/hooks", "events": ["gift.given", "gift.taken"]})
    assert answer.status_code == 400
    assert [error["field"] for error in answer.json["errors"]] == ["/events/1"]


def test_no_schema_file_keeps_a_copy_of_a_table():
    """A hand-kept enum of entry or event types is the copy the "x-values" marker replaces."""
    copies = []

    def walk(node, where):
        if isinstance(node, dict):
            enum = node.get("enum")
            if isinstance(enum, list) and ({"transfer_out", "transfer.posted"} & set(map(str, enum))):
                copies.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        walk(json.loads(path.read_text()), path.name)
    assert copies == []
