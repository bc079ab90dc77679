"""Sorted, limited pages on the embedded engine: read in index order, equal to a full scan."""
import pytest

from app.storage.embedded import engine as embedded
from tests.storage import test_embedded
from tests.storage.test_embedded import QUERIES, mixed  # noqa: F401 (a fixture)

# Reads only: one pair of collections serves every page below.
pair = pytest.fixture(scope="module")(test_embedded.pair.__wrapped__)

PAGES = [("seq", -1, 5, 0), ("seq", 1, 5, 0), ("seq", -1, 3, 2), ("seq", 1, 1, 0), ("seq", -1, 1000, 0)]


@pytest.mark.parametrize("field, direction, limit, skip", PAGES)
@pytest.mark.parametrize("query", QUERIES)
def test_pages_match_a_full_scan(pair, query, field, direction, limit, skip):  # noqa: F811
    indexed, plain = pair
    found, expected = (list(c.find(query).sort(field, direction).skip(skip).limit(limit))
                       for c in (indexed, plain))
    assert found == expected


@pytest.mark.parametrize("condition", [None, {"$gt": 5}, {"$lt": 7}, {"$gte": 3, "$lte": 7}])
@pytest.mark.parametrize("direction", [1, -1])
def test_pages_over_mixed_values_match_a_full_scan(mixed, condition, direction):  # noqa: F811
    indexed, plain = mixed
    query = {"wallet_id": "wx"} if condition is None else {"wallet_id": "wx", "at": condition}
    found, expected = (list(c.find(query).sort("at", direction).limit(4)) for c in (indexed, plain))
    assert [d["_id"] for d in found] == [d["_id"] for d in expected]


def test_a_deep_page_reads_about_a_page_of_documents(monkeypatch):
    _, collections = embedded.open_database("t", ["ops"])
    ops = collections["ops"]
    ops.create_index([("wallet_id", 1), ("seq", 1)], unique=True)
    ops.insert_many([{"_id": i, "wallet_id": "w", "seq": i} for i in range(1, 20_001)])
    checked = []
    real = embedded.filter_applies
    monkeypatch.setattr(embedded, "filter_applies", lambda *a: checked.append(1) or real(*a))
    page = list(ops.find({"wallet_id": "w", "seq": {"$lt": 10_000}}).sort("seq", -1).limit(21))
    assert [d["seq"] for d in page] == list(range(9_999, 9_978, -1))
    assert len(checked) == 21  # a full read would check the 9,999 entries below the cursor
    first = list(ops.find({"wallet_id": "w"}).sort("seq", -1).limit(3))
    assert [d["seq"] for d in first] == [20_000, 19_999, 19_998]


def test_a_page_hands_out_copies(pair):  # noqa: F811
    indexed, _ = pair
    page = list(indexed.find({"wallet_id": "w3"}).sort("seq", -1).limit(2))
    page[0]["kind"] = "changed"
    assert indexed.find_one({"_id": page[0]["_id"]})["kind"] != "changed"
    projected = indexed.find({"wallet_id": "w3"}, {"seq": 1}).sort("seq", -1).limit(1)
    assert set(next(projected)) == {"_id", "seq"}
