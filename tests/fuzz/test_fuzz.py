"""Property-based fuzzing of every operation with schemathesis, in-process (WSGI, no network).

Each operation is fuzzed as a client and as the operator, in positive and negative modes,
with a fixed seed: FUZZ_EXAMPLES per operation (CI: 50; ``make fuzz``: 1000). A share of the
generated ids and transfer bodies is steered to real wallets and transfers, so success paths
are fuzzed too, not only 404s. ``tests/support/fuzz_report.py`` counts what ran.
"""
import os

import pytest
import schemathesis
from hypothesis import settings, strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from app.money import MAX_AMOUNT_CENTS, format_cents
from app.web.openapi import build_document
from tests.support import fuzz_report
from tests.conftest import OPERATOR_TOKEN, Api, check_ledger, make_app

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
SEED = int(os.environ.get("FUZZ_SEED", "4242"))
STATEFUL_SCENARIOS = int(os.environ.get("FUZZ_SCENARIOS", "100"))
STEPS = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
PASSWORD = "password123"


class World:
    """The app under fuzz and the real things in it: a rich client, a second one, a transfer."""

    def __init__(self):
        self.app = make_app()
        api = Api(self.app.test_client())
        body, headers, self.wallet = api.member()
        self.email = body["email"]
        for _ in range(3):  # rich enough that fuzzed transfers and amounts can succeed
            assert api.deposit(self.wallet, format_cents(MAX_AMOUNT_CENTS)).status_code == 201
        _, other, self.other_wallet = api.member()
        self.transfer = api.transfer(headers, self.wallet, self.other_wallet, "1.00").json["id"]
        asked = {"to_wallet_id": self.other_wallet, "from_wallet_id": self.wallet, "amount": "1.00"}
        self.request = api.client.post("/payment-requests", json=asked, headers=other).json["id"]
        self.hold = api.client.post("/holds", json={"from_wallet_id": self.wallet, "amount": "100.00",
                                                    "to_wallet_id": self.other_wallet},
                                    headers=headers).json["id"]
        self.withdrawal = api.client.post("/withdrawals", json={
            "wallet_id": self.wallet, "amount": "100.00",
            "destination": {"type": "sandbox", "account": "acct"}}, headers=headers).json["id"]
        self.stand_ins = {"real-wallet": self.wallet, "real-other-wallet": self.other_wallet,
                          "real-transfer": self.transfer, "real-email": self.email,
                          "real-hold": self.hold, "real-request": self.request,
                          "real-withdrawal": self.withdrawal}
        self.authorization = {"client": headers["Authorization"], "operator": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture(scope="module")
def world():
    world = World()
    yield world
    check_ledger(world.app.extensions["store"].tenant("default"))  # whatever ran, the books are still whole


def amounts():
    """Valid amounts, mostly small (so transfers can pay), in every spelling the API accepts."""
    cents = st.one_of(st.integers(1, 10_000), st.integers(1, MAX_AMOUNT_CENTS))
    return cents.flatmap(lambda c: st.sampled_from(
        [format_cents(c)] + ([format_cents(c)[:-1]] if c % 10 == 0 else [])
        + ([format_cents(c)[:-3]] if c % 100 == 0 else [])))


# Stand-ins the hooks put into generated cases; `fuzz` swaps in the real ids just before the call.
WALLETS = st.sampled_from(["real-wallet", "real-other-wallet"])
STEERED_PATHS = {"wallet_id": WALLETS, "transfer_id": st.just("real-transfer"),
                 "hold_id": st.just("real-hold"), "request_id": st.just("real-request"),
                 "withdrawal_id": st.just("real-withdrawal")}
STEERED_BODIES = {  # the first choice is the one Hypothesis favours: a transfer that can succeed
    "POST /transfers": st.sampled_from([
        {"from_wallet_id": "real-wallet", "to_wallet_id": "real-other-wallet"},
        {"from_wallet_id": "real-other-wallet", "to_wallet_id": "real-wallet"},  # not the caller's: 404
        {"from_wallet_id": "real-wallet", "to_wallet_id": "real-wallet"}]),
    "POST /holds": st.sampled_from([
        {"from_wallet_id": "real-wallet", "to_wallet_id": "real-other-wallet"},
        {"from_wallet_id": "real-other-wallet", "to_wallet_id": "real-wallet"}]),
    "POST /withdrawals": st.sampled_from([{"wallet_id": "real-wallet"}, {"wallet_id": "real-other-wallet"}]),
    "POST /auth/token": st.just({"email": "real-email", "password": PASSWORD}),
    "POST /payment-requests": st.just({"to_wallet_id": "real-wallet", "from_wallet_id": "real-other-wallet"}),
}


def steer(schema):
    """Send some cases to real wallets, transfers and logins; the rest stay as generated."""

    @schema.hook
    def flatmap_path_parameters(ctx, parameters):
        if not parameters:
            return st.just(parameters)
        steered = {name: STEERED_PATHS.get(name, st.just(value)) for name, value in parameters.items()}
        return st.one_of(st.just(parameters), st.fixed_dictionaries(steered))

    @schema.hook
    def flatmap_body(ctx, body):
        real = STEERED_BODIES.get(ctx.operation.label)
        if real is None or not isinstance(body, dict):
            return st.just(body)
        return st.one_of(st.just(body), real.map(lambda fields: dict(body, **fields)))


def config():
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        # Stateful steps send valid requests, so that chains of links get far; negatives are fuzzed above.
        "phases": {"stateful": {"generation": {"mode": "positive"}}},
    })


# The document is built from the schema files alone; the app it describes is made by `world`.
schemathesis.openapi.format("amount", amounts())
schema = schemathesis.openapi.from_dict(build_document(), config=config())
steer(schema)


def use_real_ids(case, world):
    """Swap the hooks' stand-ins for the world's real ids."""
    real = world.stand_ins
    if case.path_parameters:
        case.path_parameters = {name: real.get(value, value) if isinstance(value, str) else value
                                for name, value in case.path_parameters.items()}
    if isinstance(case.body, dict):
        case.body = {name: real.get(value, value) if isinstance(value, str) else value
                     for name, value in case.body.items()}


def fuzz(case, world, identity):
    use_real_ids(case, world)
    headers = {"Authorization": world.authorization[identity]}
    response = case.call(headers=headers, app=world.app)
    fuzz_report.record(identity, case.operation.label, response.status_code)
    case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"app": world.app})


@schema.parametrize()
def test_no_input_breaks_the_api_as_a_client(case, world):
    fuzz(case, world, "client")


@schema.parametrize()
def test_no_input_breaks_the_api_as_the_operator(case, world):
    fuzz(case, world, "operator")


# The event and webhook operations are fuzzed one by one above, but left out of the linked
# scenarios: with them in, Hypothesis reports inconsistent data generation (a bundle that
# differs between replays) that is not yet understood. tests/api/test_events.py covers their flows.
STATEFUL = schema.exclude(path_regex="^/(events|webhook-endpoints)")


class Scenario(STATEFUL.as_state_machine()):
    """One stateful scenario on a fresh app (so a replayed scenario gets the same answers).

    Calls act as the owner of the wallet they name when the scenario logged that owner in
    (sign up -> log in -> deposit -> transfer), else as the world's client; deposits as the operator.
    """

    def setup(self):
        self.world = World()
        self.latest = self.world.authorization["client"]
        self.owners = {}  # email -> wallet id, from sign-ups
        self.tokens = {}  # wallet id -> Authorization, from log-ins

    def teardown(self):
        check_ledger(self.world.app.extensions["store"].tenant("default"))

    def before_call(self, case):
        use_real_ids(case, self.world)

    def get_call_kwargs(self, case):
        if case.operation.label == "POST /wallets/{wallet_id}/deposits":
            authorization = self.world.authorization["operator"]
        else:
            named = (case.path_parameters or {}).get("wallet_id") or (
                case.body.get("from_wallet_id") if isinstance(case.body, dict) else None)
            authorization = self.tokens.get(named, self.latest)
        return {"headers": {"Authorization": authorization}, "app": self.world.app}

    def after_call(self, response, case):
        fuzz_report.record("stateful", case.operation.label, response.status_code)
        if case.operation.label == "POST /transfers" and response.status_code in (201, 422):
            if isinstance(case.body, dict) and case.body.get("from_wallet_id") in self.tokens:
                fuzz_report.CHAINS[response.json().get("code", "completed")] += 1
        if case.operation.label == "POST /clients" and response.status_code == 201:
            self.owners[case.body["email"]] = response.json()["wallet"]["id"]
        if case.operation.label == "POST /auth/token" and response.status_code == 200:
            self.latest = f"Bearer {response.json()['access_token']}"
            if case.body["email"] in self.owners:
                self.tokens[self.owners[case.body["email"]]] = self.latest

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"),
                               transport_kwargs=kwargs)


def test_linked_calls_keep_the_contract():
    """Stateful: sequences that follow the document's links, each on a fresh app."""
    Scenario.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=STEPS,
                                   derandomize=True, database=None, deadline=None))


@pytest.mark.parametrize("breakage, expected", [
    ("extra_field", "Response violates schema"),
    ("crash", "Server error"),
    ("teapot", "Documented: 200, 401, 403, 404, 429"),
    ("plain_text", "Undocumented Content-Type"),
])
def test_the_checks_catch_a_broken_server(monkeypatch, breakage, expected):
    """The harness itself: each way of breaking GET /wallets/{id} fails the fuzz test's checks."""
    from app import render
    from app.routes import wallets
    world = World()
    wallet = render.wallet
    broken = {
        "extra_field": lambda doc: dict(wallet(doc), password_hash="x"),
        "crash": lambda doc: 1 / 0,
        "teapot": lambda doc: ({"error": "tea"}, 418),
        "plain_text": lambda doc: (str(wallet(doc)), 200, {"Content-Type": "text/plain"}),
    }[breakage]
    monkeypatch.setattr(wallets.render, "wallet", broken)
    monkeypatch.setattr(fuzz_report, "record", lambda *args: None)  # not a fuzz case
    case = schema["/wallets/{wallet_id}"]["GET"].Case(path_parameters={"wallet_id": world.wallet})
    with pytest.raises((AssertionError, BaseExceptionGroup)) as failure:
        fuzz(case, world, "operator")
    found = getattr(failure.value, "exceptions", (failure.value,))
    assert [type(error).__name__ for error in found if expected in str(error)], found
