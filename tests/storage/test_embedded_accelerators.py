"""The embedded engine's short paths (app/storage/embedded/engine.py, ACCELERATORS) change
how fast it answers, never what: with any of them switched off, and with all of them off,
every read of the API answers as with all on, and writes keep the books whole.

make bench (scripts/embedded_paths.py) measures what each one saves."""
import pytest

from app.storage.embedded import engine
from app.storage.tenancy import DEFAULT_TENANT
from tests.conftest import Api, check_ledger, make_app

SETTINGS = [("all off", set())] + [
    (f"{name} off", set(engine.ACCELERATORS) - {name}) for name in engine.ACCELERATORS]


@pytest.fixture(scope="module")
def books():
    """An embedded app with grown books: members paying each other with metadata, a refund,
    holds (one pending), limits; returns (app, api, members as (headers, wallet id))."""
    app = make_app("embedded")
    api = Api(app.test_client())
    members = [api.member(balance="500.00")[1:] for _ in range(4)]
    for i in range(60):
        (payer, source), (_, target) = members[i % 4], members[(i + 1) % 4]
        response = api.transfer(payer, source, target, f"{i % 7 + 1}.{i % 100:02d}",
                                metadata={"order": str(i % 5), "shop": "north" if i % 2 else "south"})
        assert response.status_code == 201, response.json
    (ada, ada_wallet), (bob, bob_wallet) = members[:2]
    paid = api.transfer(ada, ada_wallet, bob_wallet, "40.00").json["id"]
    assert api.client.post(f"/transfers/{paid}/refunds", json={"amount": "15.00"},
                           headers=bob).status_code == 201
    hold = {"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet, "amount": "9.00"}
    assert api.client.post("/holds", json=hold, headers=ada).status_code == 201
    assert api.client.put(f"/wallets/{bob_wallet}/limits", json={"daily_out_count": 500},
                          headers=api.operator).status_code == 200
    yield app, api, members
    app.extensions["storage"].use_accelerators(engine.ACCELERATORS)


def walk(client, path, headers):
    """Every page of a cursor listing, in order."""
    pages, after = [], None
    while True:
        query = {"limit": 7} if after is None else {"limit": 7, "after": after}
        response = client.get(path, query_string=query, headers=headers)
        assert response.status_code == 200, response.json
        pages.append(response.json["data"])
        after = response.json.get("next_cursor")
        if not response.json.get("has_more"):
            return pages


def reads(api, members):
    """What the API answers to every kind of read over the books."""
    client, operator = api.client, api.operator
    (ada, ada_wallet), (bob, bob_wallet) = members[:2]
    answers = {}

    def get(path, headers=operator, **query):
        response = client.get(path, query_string=query, headers=headers)
        answers[path, tuple(sorted(query.items()))] = (response.status_code, response.get_data(as_text=True))

    for headers, wallet in members:
        get(f"/wallets/{wallet}", headers)
        get(f"/wallets/{wallet}/holds", headers)
        get(f"/wallets/{wallet}/limits", headers)
        get(f"/wallets/{wallet}/report", headers, format="json")
        answers["operations", wallet] = walk(client, f"/wallets/{wallet}/operations", headers)
    get("/transfers", ada, wallet_id=ada_wallet, limit=100)
    get("/transfers", **{"metadata[order]": "3", "limit": 100})
    get("/transfers", type="refund")
    get("/transfers", counterparty_wallet_id=bob_wallet, min_amount="3.00", limit=100)
    get("/events", limit=200)
    get("/audit")
    get("/system-accounts")
    return answers


def writes(api, members):
    """A transfer, a hold voided, an overdraft refused: each answers as documented."""
    (ada, ada_wallet), (bob, bob_wallet) = members[:2]
    assert api.transfer(ada, ada_wallet, bob_wallet, "1.25").status_code == 201
    hold = api.client.post("/holds", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                           "amount": "2.00"}, headers=ada)
    assert hold.status_code == 201, hold.json
    voided = api.client.post(f"/holds/{hold.json['id']}/void", headers=bob)
    assert voided.status_code == 200 and voided.json["status"] == "voided"
    refused = api.transfer(ada, ada_wallet, bob_wallet, "99999.00")
    assert refused.status_code == 422 and refused.json["code"] == "insufficient_funds"


@pytest.mark.parametrize("setting, names", SETTINGS, ids=[name for name, _ in SETTINGS])
def test_every_read_answers_as_with_every_short_path_on(books, setting, names):
    app, api, members = books
    store = app.extensions["storage"]
    store.use_accelerators(names)
    try:
        writes(api, members)
        found = reads(api, members)
    finally:
        store.use_accelerators(engine.ACCELERATORS)
    assert found == reads(api, members)
    check_ledger(app.extensions["store"].tenant(DEFAULT_TENANT))


def test_an_unknown_short_path_is_refused(books):
    app, _, _ = books
    with pytest.raises(ValueError, match="unknown embedded accelerators"):
        app.extensions["storage"].use_accelerators({"hash", "btree"})
