"""Journal entries name what caused them; metadata on every object, merged by PATCH, over HTTP."""
import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest

from app.ledger import units, withdrawals
from tests.conftest import OPERATOR_TOKEN

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
LINKS = ("hold_id", "refund_of", "withdrawal_id", "payment_request_id", "batch_id")


@pytest.fixture
def pair(api):
    _, ada, ada_wallet = api.member(balance="500.00")
    _, bob, bob_wallet = api.member(balance="100.00")
    return ada, ada_wallet, bob, bob_wallet


def entries(client, wallet_id):
    """The wallet's journal through the API, by transfer id -> the entry."""
    data = client.get(f"/wallets/{wallet_id}/operations?limit=100", headers=OPERATOR).json["data"]
    return {entry["transfer_id"]: entry for entry in data}


def statement(client, wallet_id, kind):
    return client.get(f"/wallets/{wallet_id}/report?format={kind}", headers=OPERATOR)


def make_every_link(api, pair):
    """One movement of each kind that names a cause; {link name: (transfer id, the cause's id)}."""
    client = api.client
    ada, ada_wallet, bob, bob_wallet = pair
    hold = client.post("/holds", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                       "amount": "10.00"}, headers=ada).json
    capture = client.post(f"/holds/{hold['id']}/capture", json={"metadata": {"order": "h-1"}},
                          headers=bob)
    assert capture.status_code == 200, capture.json
    captured = client.get(f"/wallets/{bob_wallet}/operations?limit=1", headers=bob).json["data"][0]
    paid = api.transfer(ada, ada_wallet, bob_wallet, "20.00").json
    refund = client.post(f"/transfers/{paid['id']}/refunds",
                         json={"amount": "5.00", "metadata": {"reason": "damaged"}}, headers=bob).json
    asked = client.post("/payment-requests", json={"to_wallet_id": bob_wallet,
                                                   "from_wallet_id": ada_wallet, "amount": "3.00"},
                        headers=bob).json
    approved = client.post(f"/payment-requests/{asked['id']}/approve", headers=ada).json
    batch = client.post("/transfer-batches", json={"mode": "atomic", "transfers": [
        {"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet, "amount": "1.00",
         "metadata": {"line": "1"}}]}, headers=ada).json
    return {"hold_id": (captured["transfer_id"], hold["id"]),
            "refund_of": (refund["id"], paid["id"]),
            "payment_request_id": (approved["id"], asked["id"]),
            "batch_id": (batch["results"][0]["transfer_id"], batch["id"])}


def test_every_entry_names_its_cause_and_its_transfer_metadata(api, pair, store):
    ada, ada_wallet, bob, bob_wallet = pair
    made = make_every_link(api, pair)
    journal = {**entries(api.client, ada_wallet), **entries(api.client, bob_wallet)}
    for link in ("hold_id", "refund_of", "payment_request_id", "batch_id"):
        transfer_id, cause = made[link]
        entry = journal[transfer_id]
        assert entry[link] == cause, link
        assert not set(LINKS) - {link} & set(entry), entry
    assert journal[made["hold_id"][0]]["metadata"] == {"order": "h-1"}
    assert journal[made["refund_of"][0]]["metadata"] == {"reason": "damaged"}
    assert journal[made["batch_id"][0]]["metadata"] == {"line": "1"}
    assert "metadata" not in journal[made["payment_request_id"][0]]  # it takes nothing implicitly
    # The transfers show the same links.
    refund = api.client.get(f"/transfers/{made['refund_of'][0]}", headers=bob).json
    assert (refund["refund_of"], refund["metadata"]) == (made["refund_of"][1], {"reason": "damaged"})


def test_a_settled_withdrawal_entry_names_the_withdrawal(api, pair, store):
    ada, ada_wallet, _, _ = pair
    made = api.client.post("/withdrawals", json={
        "wallet_id": ada_wallet, "amount": "2.00",
        "destination": {"type": "bank_account", "account": "DE89370400440532013000"}}, headers=ada).json
    store.transaction(lambda tx: withdrawals.step(tx, made["id"], "processing", units.now(), "ref-9"))
    assert api.client.post(f"/withdrawals/{made['id']}/settle", json={"outcome": "succeeded"},
                           headers=OPERATOR).status_code == 200
    latest = api.client.get(f"/wallets/{ada_wallet}/operations?limit=1", headers=ada).json["data"][0]
    assert (latest["type"], latest["withdrawal_id"]) == ("withdrawal", made["id"])


def test_statements_carry_the_links_in_all_three_formats(api, pair):
    ada, ada_wallet, bob, bob_wallet = pair
    made = make_every_link(api, pair)
    refund_id, original_id = made["refund_of"]
    as_json = statement(api.client, bob_wallet, "json").json
    by_transfer = {op["transfer_id"]: op for op in as_json["operations"]}
    assert by_transfer[refund_id]["refund_of"] == original_id
    assert by_transfer[refund_id]["metadata"] == {"reason": "damaged"}
    assert by_transfer[made["hold_id"][0]]["hold_id"] == made["hold_id"][1]
    rows = list(csv.DictReader(io.StringIO(statement(api.client, bob_wallet, "csv").text)))
    assert set(LINKS) | {"metadata"} <= set(rows[0])
    row = next(r for r in rows if r["transfer_id"] == refund_id)
    assert (row["refund_of"], json.loads(row["metadata"]), row["hold_id"]) == (
        original_id, {"reason": "damaged"}, "")
    root = ET.fromstring(statement(api.client, bob_wallet, "xml").data)
    element = next(op for op in root.iter("operation") if op.findtext("transfer_id") == refund_id)
    assert element.findtext("refund_of") == original_id
    assert {e.get("key"): e.text for e in element.find("metadata")} == {"reason": "damaged"}
    batch = next(op for op in root.iter("operation") if op.findtext("transfer_id") == made["batch_id"][0])
    assert batch.findtext("batch_id") == made["batch_id"][1] and batch.find("refund_of") is None


TOO_MANY = {f"k{i}": "v" for i in range(51)}


@pytest.mark.parametrize("metadata, pointers", [
    (TOO_MANY, ["/metadata"]),
    ({"k" * 41: "v"}, ["/metadata/" + "k" * 41]),
    ({"": "v"}, ["/metadata/"]),
    ({"bad key": "v"}, ["/metadata/bad key"]),
    ({"ok": "v" * 501}, ["/metadata/ok"]),
    ({"n": 5}, ["/metadata/n"]),
    ({"n": 5, "m" * 41: "x", "long": "v" * 501}, ["/metadata/long", "/metadata/" + "m" * 41, "/metadata/n"]),
    ([], ["/metadata"]),
])
def test_metadata_limits_are_400_at_each_pointer(api, pair, metadata, pointers):
    ada, ada_wallet, _, bob_wallet = pair
    response = api.client.post("/transfers", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                                   "amount": "1.00", "metadata": metadata}, headers=ada)
    assert (response.status_code, response.json["code"]) == (400, "validation_failed")
    assert sorted(e["field"] for e in response.json["errors"]) == sorted(pointers)
    patched = api.client.patch(f"/wallets/{ada_wallet}", json={"metadata": metadata}, headers=ada)
    assert patched.status_code == 400


def test_fifty_keys_of_forty_characters_and_500_character_values_pass(api, pair):
    ada, ada_wallet, _, bob_wallet = pair
    metadata = {f"{i:02d}" + "k._-" * 9 + "Z9": "v" * 500 for i in range(50)}
    assert all(len(key) == 40 for key in metadata)
    response = api.client.post("/transfers", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                                   "amount": "1.00", "metadata": metadata}, headers=ada)
    assert response.status_code == 201, response.json
    assert response.json["metadata"] == metadata


def test_metadata_is_set_at_creation_on_every_object(api, pair, client):
    ada, ada_wallet, bob, bob_wallet = pair
    tag = {"order.id": "A-1"}
    signed = client.post("/clients", json={"email": "meta@example.com", "name": "M",
                                           "password": "password123", "metadata": tag})
    assert signed.json["metadata"] == tag and signed.json["wallet"]["metadata"] == {}
    hold = client.post("/holds", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                       "amount": "1.00", "metadata": tag}, headers=ada).json
    asked = client.post("/payment-requests", json={"to_wallet_id": bob_wallet, "from_wallet_id": ada_wallet,
                                                   "amount": "1.00", "metadata": tag}, headers=bob).json
    withdrawal = client.post("/withdrawals", json={
        "wallet_id": ada_wallet, "amount": "1.00", "metadata": tag,
        "destination": {"type": "bank_account", "account": "DE89370400440532013000"}}, headers=ada).json
    for path in (f"/holds/{hold['id']}", f"/payment-requests/{asked['id']}",
                 f"/withdrawals/{withdrawal['id']}"):
        assert client.get(path, headers=OPERATOR).json["metadata"] == tag, path
    # Carried by the object's events.
    created = client.get("/events?type=hold.created", headers=OPERATOR).json["data"]
    assert [e["data"]["metadata"] for e in created if e["data"]["id"] == hold["id"]] == [tag]


def test_patch_merges_and_null_removes(api, pair, client):
    ada, ada_wallet, bob, bob_wallet = pair
    made = client.post("/transfers", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                           "amount": "1.00", "metadata": {"a": "1", "b": "2"}},
                       headers=ada).json
    patched = client.patch(f"/transfers/{made['id']}", json={"metadata": {"b": None, "c": "3", "a": "9"}},
                           headers=ada)
    assert (patched.status_code, patched.json["metadata"]) == (200, {"a": "9", "c": "3"})
    assert client.get(f"/transfers/{made['id']}", headers=bob).json["metadata"] == {"a": "9", "c": "3"}
    # Entries read the transfer's metadata as it is now.
    assert entries(client, bob_wallet)[made["id"]]["metadata"] == {"a": "9", "c": "3"}
    removed = client.patch(f"/transfers/{made['id']}", json={"metadata": {"a": None, "c": None, "x": None}},
                           headers=OPERATOR)
    assert removed.json["metadata"] == {}
    assert "metadata" not in entries(client, bob_wallet)[made["id"]]


def test_patch_past_fifty_keys_once_merged_is_400(api, pair, client):
    ada, ada_wallet, _, _ = pair
    first = {f"a{i}": "v" for i in range(30)}
    assert client.patch(f"/wallets/{ada_wallet}", json={"metadata": first}, headers=ada).status_code == 200
    more = client.patch(f"/wallets/{ada_wallet}", json={"metadata": {f"b{i}": "v" for i in range(21)}},
                        headers=ada)
    assert (more.status_code, more.json["errors"][0]["field"]) == (400, "/metadata")
    assert len(client.get(f"/wallets/{ada_wallet}", headers=ada).json["metadata"]) == 30


def test_who_may_patch(api, pair, client):
    ada, ada_wallet, bob, bob_wallet = pair
    _, eve, _ = api.member()
    made = api.transfer(ada, ada_wallet, bob_wallet, "1.00").json
    body = {"metadata": {"k": "v"}}
    assert client.patch(f"/transfers/{made['id']}", json=body, headers=bob).status_code == 403
    assert client.patch(f"/transfers/{made['id']}", json=body, headers=eve).status_code == 404
    assert client.patch(f"/wallets/{ada_wallet}", json=body, headers=bob).status_code == 404
    assert client.patch(f"/wallets/{ada_wallet}", json=body, headers=OPERATOR).status_code == 200
    me = client.get("/clients/me", headers=ada).json
    assert client.patch(f"/clients/{me['id']}", json=body, headers=bob).status_code == 404
    mine = client.patch(f"/clients/{me['id']}", json=body, headers=ada)
    assert (mine.status_code, mine.json["metadata"]) == (200, {"k": "v"})
    assert client.get("/clients/me", headers=ada).json["metadata"] == {"k": "v"}
    assert client.patch("/holds/hold_nope", json=body, headers=ada).status_code == 404
