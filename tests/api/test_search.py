"""GET /transfers: each filter, their combination, cursor pages, client scoping, index-served."""
import json

import pytest

from app.ledger import search
from app.web.pagination import read_position_cursor
from tests.conftest import OPERATOR_TOKEN, needs_real_replica_set

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


class Made(dict):
    """Name -> transfer id of what the world made, and when (``created_at``)."""

    def __init__(self):
        super().__init__()
        self.created_at = {}

    def add(self, name, transfer):
        self[name], self.created_at[name] = transfer["id"], transfer["created_at"]

    def newest_first(self, *names):
        """Their ids as a listing orders them: by created_at, then id, both descending (docs/api.md)."""
        order = sorted(names, key=lambda name: (self.created_at[name], self[name]), reverse=True)
        return [self[name] for name in order]


@pytest.fixture
def world(api):
    """Ada pays Bob and Cy; Bob refunds one; a deposit each. Returns (names -> ids, headers)."""
    _, ada, ada_wallet = api.member(balance="1000.00")
    _, bob, bob_wallet = api.member(balance="50.00")
    _, cy, cy_wallet = api.member()
    made = Made()

    def pay(name, to, amount, metadata=None):
        body = {"from_wallet_id": ada_wallet, "to_wallet_id": to, "amount": amount}
        if metadata:
            body["metadata"] = metadata
        response = api.client.post("/transfers", json=body, headers=ada)
        assert response.status_code == 201, response.json
        made.add(name, response.json)

    pay("small", bob_wallet, "5.00", {"order": "1"})
    pay("big", bob_wallet, "150.00", {"order": "2", "shop": "north"})
    pay("cy", cy_wallet, "120.00", {"shop": "north"})
    refund = api.client.post(f"/transfers/{made['big']}/refunds", json={"amount": "110.00"}, headers=bob)
    made.add("refund", refund.json)
    return made, {"ada": (ada, ada_wallet), "bob": (bob, bob_wallet), "cy": (cy, cy_wallet)}


def find(client, headers, **query):
    response = client.get("/transfers", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def ids(page):
    return [t["id"] for t in page["data"]]


def test_a_client_sees_its_own_wallet_newest_first(client, world):
    made, who = world
    bob, bob_wallet = who["bob"]
    page = find(client, bob)
    assert ids(page)[:3] == made.newest_first("refund", "big", "small")
    assert page["data"][3]["type"] == "deposit" and len(page["data"]) == 4
    assert (page["has_more"], page["next_cursor"]) == (False, None)
    assert ids(find(client, bob, wallet_id=bob_wallet)) == ids(page)


def test_each_filter_on_its_own(client, world):
    made, who = world
    ada, ada_wallet = who["ada"]
    _, bob_wallet = who["bob"]
    _, cy_wallet = who["cy"]
    assert ids(find(client, ada, type="refund")) == [made["refund"]]
    assert ids(find(client, ada, counterparty_wallet_id=cy_wallet)) == [made["cy"]]
    assert set(ids(find(client, ada, min_amount="110.00", max_amount="999.99"))) == {
        made["big"], made["cy"], made["refund"]}
    assert ids(find(client, ada, max_amount="5")) == [made["small"]]
    assert ids(find(client, ada, **{"metadata[shop]": "north"})) == made.newest_first("cy", "big")
    assert len(find(client, ada, created_from="2000-01-01")["data"]) == 5
    assert find(client, ada, created_to="2000-01-01")["data"] == []
    everything = find(client, OPERATOR, limit=100)
    assert {made[name] for name in made} <= set(ids(everything))
    assert ids(find(client, OPERATOR, wallet_id=cy_wallet, type="transfer")) == [made["cy"]]
    assert ids(find(client, OPERATOR, counterparty_wallet_id=cy_wallet, limit=100)) == [made["cy"]]
    assert set(ids(find(client, OPERATOR, **{"metadata[order]": "2"}))) == {made["big"]}
    assert ids(find(client, OPERATOR, type="refund", limit=100)) == [made["refund"]]
    assert bob_wallet  # the refund is Bob's, seen above from Ada's side


def test_filters_combine(client, world):
    made, who = world
    ada, ada_wallet = who["ada"]
    _, bob_wallet = who["bob"]
    combined = find(client, ada, wallet_id=ada_wallet, type="transfer", counterparty_wallet_id=bob_wallet,
                    min_amount="100.00", max_amount="200.00", created_from="2000-01-01",
                    created_to="9999-01-01", **{"metadata[order]": "2", "metadata[shop]": "north"})
    assert ids(combined) == [made["big"]]
    assert find(client, ada, type="transfer", counterparty_wallet_id=bob_wallet,
                **{"metadata[shop]": "south"})["data"] == []
    assert ids(find(client, OPERATOR, type="transfer", min_amount="100.00",
                    **{"metadata[shop]": "north"})) == made.newest_first("cy", "big")


def test_pages_cross_a_boundary_without_loss_or_repeat(client, api):
    _, ada, ada_wallet = api.member(balance="100.00")
    _, _, bob_wallet = api.member()
    sent = [api.transfer(ada, ada_wallet, bob_wallet, "1.00").json for _ in range(7)]
    # Newest first; transfers made within one millisecond follow their ids (docs/api.md).
    newest_first = [t["id"] for t in sorted(sent, key=lambda t: (t["created_at"], t["id"]), reverse=True)]
    seen, after, pages = [], None, 0
    while True:
        query = {"limit": 3, "type": "transfer", **({"after": after} if after else {})}
        page = find(client, ada, **query)
        seen += ids(page)
        pages += 1
        if not page["has_more"]:
            break
        after = page["next_cursor"]
    assert (seen, pages) == (newest_first, 3)


def test_a_client_searching_another_wallet_is_404(client, world):
    _, who = world
    ada, _ = who["ada"]
    _, cy_wallet = who["cy"]
    for query in ({"wallet_id": cy_wallet}, {"wallet_id": "wal_nope"}):
        response = client.get("/transfers", query_string=query, headers=ada)
        assert (response.status_code, response.json["code"]) == (404, "wallet_not_found")
    # A counterparty only narrows the caller's own: Cy's other transfers stay out of sight.
    assert all(cy_wallet in (t["from_wallet_id"], t["to_wallet_id"])
               for t in find(client, ada, counterparty_wallet_id=cy_wallet)["data"])


@pytest.mark.parametrize("query, field", [
    ({"type": "bonus"}, "type"), ({"min_amount": "1.001"}, "min_amount"),
    ({"max_amount": "-1"}, "max_amount"), ({"created_from": "yesterday"}, "created_from"),
    ({"metadata[bad key]": "x"}, "metadata[bad key]"), ({"metadata[k]": "v" * 501}, "metadata[k]"),
    ({"limit": "0"}, "limit"),
])
def test_bad_parameters_are_400(client, world, query, field):
    _, who = world
    ada, _ = who["ada"]
    response = client.get("/transfers", query_string=query, headers=ada)
    assert (response.status_code, response.json["errors"][0]["field"]) == (400, field)


COMBINATIONS = [
    {}, {"type": "refund"}, {"metadata": (("shop", "north"),)},
    {"metadata": (("shop", "north"),), "type": "transfer"}, {"counterparty_wallet_id": "C"},
    {"min_amount_cents": 100, "max_amount_cents": 900}, {"created_from": "T", "created_to": "T"},
    {"wallet_id": "W"}, {"wallet_id": "W", "type": "transfer", "counterparty_wallet_id": "C",
                         "min_amount_cents": 1, "max_amount_cents": 9, "created_from": "T",
                         "metadata": (("order", "2"),)},
]


def _plan_stages(plan):
    """Every stage name in an explain's winning plan, however deep."""
    text = json.dumps(plan, default=str)
    return {stage for stage in ("COLLSCAN", "IXSCAN", "FETCH") if f'"{stage}"' in text}


def _concrete(combination, wallet, counterparty, moment):
    return search.Filters(**{name: {"W": wallet, "C": counterparty, "T": moment}.get(value, value)
                             if isinstance(value, str) else value for name, value in combination.items()})


def test_every_search_names_an_index_that_exists(app, world):
    """Each filter combination's walks are hinted at an index db init made (both engines)."""
    _, who = world
    existing = [[(field, int(direction)) for field, direction in index["key"]]
                for index in app.extensions["store"].collections["transfers"].index_information().values()]
    for combination in COMBINATIONS:
        for _, hint in search.queries(_concrete(combination, who["ada"][1], who["bob"][1], None)):
            assert list(hint) in existing, (combination, hint)


@pytest.mark.mongo
# The wire stand-in answers explain with its own shape (no queryPlanner, no winningPlan) and
# scans in Python whatever the hint: it cannot show a plan. This runs on a real replica set.
@needs_real_replica_set("explain's winning plan: the wire stand-in answers explain without MongoDB's planner")
def test_no_search_scans_the_collection(app, client, world):
    """Each filter combination, as search sends it, is an index walk (explain), never a COLLSCAN."""
    store = app.extensions["store"]
    if store.engine != "mongodb":
        pytest.skip("explain is MongoDB's: the embedded engine has no planner")
    _, who = world
    moment = read_position_cursor(find(client, OPERATOR, limit=1)["next_cursor"], "tr")[0]
    for combination in COMBINATIONS:
        for query, hint in search.queries(_concrete(combination, who["ada"][1], who["bob"][1], moment)):
            plan = store.collections["transfers"].find(query, hint=hint).sort(
                [("created_at", -1), ("_id", -1)]).explain()["queryPlanner"]["winningPlan"]
            stages = _plan_stages(plan)
            assert "IXSCAN" in stages and "COLLSCAN" not in stages, (combination, plan)
