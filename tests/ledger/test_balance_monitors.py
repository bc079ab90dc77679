"""Balance monitors over HTTP, both engines: edge-triggered, in the unit of the movement."""
import pytest


def monitor(api, headers, wallet_id, field="available", condition="lt", amount="100.00"):
    return api.client.post(f"/wallets/{wallet_id}/balance-monitors", headers=headers,
                           json={"field": field, "condition": condition, "amount": amount})


def triggered(api, wallet_id):
    events = api.client.get("/events?limit=100&type=balance_monitor.triggered", headers=api.operator).json
    return [e["data"] for e in events["data"] if e["data"]["wallet_id"] == wallet_id]


@pytest.fixture
def pair(api):
    _, ada, ada_wallet = api.member(balance="150.00")
    _, bob, bob_wallet = api.member()
    return ada, ada_wallet, bob, bob_wallet


def test_a_monitor_fires_once_when_crossed_and_again_only_after_recovering(api, pair):
    ada, ada_wallet, bob, bob_wallet = pair
    created = monitor(api, ada, ada_wallet)
    assert created.status_code == 201 and created.json["firing"] is False
    assert api.transfer(ada, ada_wallet, bob_wallet, "60.00").status_code == 201   # 90.00: crosses down
    assert [e["amount_after"] for e in triggered(api, ada_wallet)] == ["90.00"]
    assert api.transfer(ada, ada_wallet, bob_wallet, "10.00").status_code == 201   # 80.00: stays down
    assert len(triggered(api, ada_wallet)) == 1
    assert api.deposit(ada_wallet, "50.00").status_code == 201                    # 130.00: back up
    assert len(triggered(api, ada_wallet)) == 1
    assert api.client.get(f"/wallets/{ada_wallet}/balance-monitors/{created.json['id']}",
                          headers=ada).json["firing"] is False
    assert api.transfer(ada, ada_wallet, bob_wallet, "40.00").status_code == 201   # 90.00: down again
    fired = triggered(api, ada_wallet)
    assert [e["amount_after"] for e in fired] == ["90.00", "90.00"]
    assert fired[0]["monitor"]["id"] == created.json["id"] and fired[0]["field"] == "available"


def test_a_hold_moves_available_and_a_refused_movement_fires_nothing(api, pair):
    ada, ada_wallet, bob, bob_wallet = pair
    monitor(api, ada, ada_wallet)
    refused = api.transfer(ada, ada_wallet, bob_wallet, "500.00")
    assert refused.status_code == 422 and triggered(api, ada_wallet) == []
    hold = {"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet, "amount": "70.00"}
    held = api.client.post("/holds", headers=ada, json=hold)
    assert held.status_code == 201
    assert [e["amount_after"] for e in triggered(api, ada_wallet)] == ["80.00"]  # available, not balance
    balance = monitor(api, ada, ada_wallet, field="balance", condition="gte", amount="150.00")
    assert balance.json["firing"] is True  # already true when made: silent until it turns true again


def test_at_most_ten_per_wallet_and_only_the_owner_or_the_operator(api, pair):
    ada, ada_wallet, bob, bob_wallet = pair
    made = [monitor(api, ada if n % 2 else api.operator, ada_wallet, amount=f"{n + 1}.00") for n in range(10)]
    assert [r.status_code for r in made] == [201] * 10
    eleventh = monitor(api, ada, ada_wallet)
    assert (eleventh.status_code, eleventh.json["code"], eleventh.json["limit"]) == \
        (422, "service_limit_reached", "max_balance_monitors_per_wallet")
    assert monitor(api, bob, ada_wallet).status_code == 404
    first = made[0].json["id"]
    assert api.client.get(f"/wallets/{ada_wallet}/balance-monitors/{first}", headers=bob).status_code == 404
    assert api.client.delete(
        f"/wallets/{ada_wallet}/balance-monitors/{first}", headers=bob).status_code == 404
    assert api.client.delete(
        f"/wallets/{ada_wallet}/balance-monitors/{first}", headers=ada).status_code == 200
    assert api.client.delete(
        f"/wallets/{ada_wallet}/balance-monitors/{first}", headers=ada).status_code == 404
    assert len(api.client.get(f"/wallets/{ada_wallet}/balance-monitors", headers=ada).json["data"]) == 9
    assert monitor(api, ada, ada_wallet).status_code == 201
    bad = api.client.post(f"/wallets/{ada_wallet}/balance-monitors", headers=ada,
                          json={"field": "held", "condition": "eq", "amount": "-1"})
    assert bad.status_code == 400 and {e["field"]
                                       for e in bad.json["errors"]} == {"/field", "/condition", "/amount"}
