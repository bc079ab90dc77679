"""Past one replica set: every command of a walk through the API names its tenant.

The shard key of every tenant's collection is led by ``tenant_id`` (docs/features/tenants.md):
a command whose filter lacks it would reach every shard. This test records every command the
driver sends during the contract walk (a pymongo CommandListener, on MongoDB: the wire stand-in
here) and fails on one that would, unless it is listed in CROSSING with why it must.
"""
import pytest
from pymongo import monitoring

from tests.api import test_contract
from tests.conftest import MONGO_URI, Api, make_app

# Never sharded: small, read by id before any tenant is known, or the schema's own.
UNSHARDED = {"tenants", "api_keys", "meta"}
# (collection, command): queries that read every tenant's documents on purpose, each a
# scatter-gather on a sharded cluster: the platform operator's reads and the background steps,
# which find due work across tenants and then act in each document's own tenant.
CROSSING = {
    ("admin_log", "find"): "GET /admin-log by the platform operator: every tenant's entries",
    ("holds", "find"): "the sweeper: pending holds past expires_at, of every tenant",
    ("payment_requests", "find"): "the sweeper: pending requests past expires_at, of every tenant",
    ("withdrawals", "find"): "the payout steps: pending and processing withdrawals, of every tenant",
    ("events", "find"): "the dispatcher's fan-out: events not yet fanned out, of every tenant",
    ("events", "update"): "the dispatcher: marks a fanned-out batch by _id",
    ("webhook_endpoints", "find"): "the dispatcher: enabled endpoints (and one by _id for a send)",
    ("webhook_endpoints", "findAndModify"): "the dispatcher: an endpoint's health, by _id",
    ("deliveries", "findAndModify"): "the dispatcher: claims and records deliveries of every tenant",
    ("deliveries", "find"): "the dispatcher: a delivery's event and endpoint",
    ("operations", "find"): "the dispatcher's e-mail notices: a transfer's entries",
    ("wallets", "find"): "the dispatcher's e-mail notices: the wallets of a transfer",
    ("clients", "find"): "the dispatcher's e-mail notices: the owners of those wallets",
}
FILTER_OF = {"find": "filter", "count": "query", "distinct": "query", "findAndModify": "query"}


class Recorder(monitoring.CommandListener):
    def __init__(self, database):
        self.database, self.commands, self.active = database, [], False

    def started(self, event):
        if self.active and event.database_name == self.database:
            self.commands.append((event.command_name, event.command))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def _filters(name, command):
    """The filters (or inserted documents) of one command, and the collection it names."""
    collection = command.get(name)
    if name in FILTER_OF:
        return collection, [command.get(FILTER_OF[name]) or {}]
    if name == "update":
        return collection, [update["q"] for update in command["updates"]]
    if name == "delete":
        return collection, [delete["q"] for delete in command["deletes"]]
    if name == "insert":
        return collection, list(command["documents"])
    if name == "aggregate":
        first = (command.get("pipeline") or [{}])[0]
        return collection, [first.get("$match", {})]
    return None, []


@pytest.mark.mongo
@pytest.mark.skipif(not MONGO_URI, reason="needs MONGO_URI naming a MongoDB replica set")
def test_every_command_of_the_walk_names_its_tenant():
    recorder = Recorder(None)
    app = make_app("mongodb", MONGO_EVENT_LISTENERS=[recorder])
    recorder.database = app.config["MONGO_DB"]
    engine = app.extensions["storage"]
    try:
        client = app.test_client()
        walk = test_contract.Walk(client, client.get("/openapi.json").json)
        recorder.active = True
        test_contract.test_every_documented_response_matches_a_real_one(app, Api(client), walk)
        recorder.active = False
    finally:
        engine.drop()
        engine.close()
    checked, crossing, untargeted = 0, set(), []
    for name, command in recorder.commands:
        collection, filters = _filters(name, command)
        if collection is None or collection in UNSHARDED:
            continue
        for query in filters:
            checked += 1
            if "tenant_id" in query:
                continue
            if (collection, name) in CROSSING:
                crossing.add((collection, name))
            else:
                untargeted.append(f"{name} {collection} {query}")
    assert checked > 500, checked
    assert not untargeted, "\n".join(untargeted[:20])
    # The check sees a query without a tenant: the platform operator's GET /admin-log is one.
    assert ("admin_log", "find") in crossing, crossing
