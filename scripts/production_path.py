"""`make bench`'s production path: what a request costs the app process and how many round trips.

The app runs in this process on the wire stand-in (tests/support/wire_standin.py starts one, a
MongoDB wire-protocol server in a process of its own, so its CPU is not counted here),
and requests go through Flask's test client, one at a time:

- round trips: every command the driver sends while a request is served, commit included,
  counted by a pymongo CommandListener (server heartbeats are not commands);
- app CPU: ``time.process_time()`` of this process over many single transfers, each with
  an Idempotency-Key, and over as many requests to the floor (scripts/floor_app.py: a bare
  Flask route that parses a JSON body and answers 201) through the same kind of client.

    python -m scripts.production_path             # prints the figures alone
    python -m scripts.production_path --commands  # and each operation's commands by name
"""
import collections
import os
import sys
import time
import uuid
from pathlib import Path

from pymongo import monitoring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OPERATOR_TOKEN = "bench-operator-token"
TRANSFERS = 300   # single transfers timed for the CPU figure (after WARM_UP more)
WARM_UP = 30
BATCH_SIZE = 100
OPERATION_TRIES = 3  # each other operation is counted this often; the largest count is printed
# The targets (docs/benchmarks.md): round trips, and CPU as a multiple of the floor.
MAX_SINGLE_TRIPS, MAX_BATCHED_TRIPS, MAX_OTHER_TRIPS, MAX_CPU_RATIO = 5, 1.5, 7, 8


class CommandCounter(monitoring.CommandListener):
    """Counts the commands the driver starts, by name: each is a round trip to the server.

    The tenant directory's read (app/ledger/tenants.py: once per TENANT_CACHE_S per worker and
    tenant, whatever the request) is counted apart, in ``tenant_reads``: on this slow stand-in
    it would otherwise land on whichever request comes after the cache lapsed."""

    def __init__(self):
        self.counts = collections.Counter()
        self.tenant_reads = 0

    def started(self, event):
        if event.command_name == "find" and event.command.get("find") == "tenants":
            self.tenant_reads += 1
            return
        self.counts[event.command_name] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def take(self):
        """The commands counted since the last take, and a fresh start."""
        counts, self.counts = self.counts, collections.Counter()
        return counts


def make_app(uri, counter):
    """The API on ``uri`` in a fresh, initialised database, its client listened to by ``counter``."""
    from app import create_app, storage
    from app.ledger import seed
    from app.storage import schema
    from app.web import observability
    from config import Config

    monitoring.register(counter)  # clients made from now on report to it: the app's is one
    config = {key: getattr(Config, key) for key in dir(Config) if key.isupper()}
    config.update(MONGO_URI=uri, MONGO_DB=f"wallet_bench_{uuid.uuid4().hex[:8]}",
                  OPERATOR_TOKEN=OPERATOR_TOKEN, SECRET_KEY=uuid.uuid4().hex,
                  SWEEPER_THREAD=False, EVENTS_DISPATCHER_THREAD=False,
                  PASSWORD_HASH_METHOD="scrypt:1024:8:1",  # sign-ups are set-up, not measured
                  # The stand-in is slow on a loaded machine; time is not what is measured here.
                  REQUEST_TIMEOUT_MS=60_000)
    store = storage.open_store(config)
    try:
        schema.initialise(store, config["IDEMPOTENCY_TTL_S"], seed=seed.SEED)
    finally:
        store.close()
    app = create_app(config)
    # The request log line is written as in production, to nowhere: no terminal in the timing.
    observability.configure_logging(app.config, open(os.devnull, "w"))
    return app


class Session:
    """Requests through the test client as a client, an operator or anyone."""

    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

    def __init__(self, app):
        self.client = app.test_client()

    def post(self, path, body, headers=None, status=201):
        response = self.client.post(path, json=body, headers=dict(
            headers or {}, **{"Idempotency-Key": uuid.uuid4().hex}))
        if response.status_code != status:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.json}")
        return response.json

    def member(self, top_up="1000000.00"):
        """A new client with a topped-up wallet: (auth headers, wallet id)."""
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        body = self.client.post("/clients", json={"email": email, "name": "Bench",
                                                  "password": "bench-password"}).json
        token = self.client.post("/auth/token", json={"email": email, "password": "bench-password"}).json
        self.post(f"/wallets/{body['wallet']['id']}/deposits", {"amount": top_up}, self.operator)
        return {"Authorization": f"Bearer {token['access_token']}"}, body["wallet"]["id"]


def single_transfers(session, counter, count, payer, payee):
    """(round trips per transfer, CPU seconds per transfer) over ``count`` keyed transfers."""
    (payer_auth, payer_wallet), (payee_auth, payee_wallet) = payer, payee
    counter.take()
    counter.tenant_reads = 0
    started = time.process_time()
    for i in range(count):
        # Back and forth: neither wallet runs dry however long the run.
        auth, source, target = ((payer_auth, payer_wallet, payee_wallet) if i % 2 == 0
                                else (payee_auth, payee_wallet, payer_wallet))
        session.post("/transfers", {"from_wallet_id": source, "to_wallet_id": target,
                                    "amount": "1.00"}, auth)
    cpu_s = time.process_time() - started
    return sum(counter.take().values()) / count, cpu_s / count, counter.tenant_reads


def floor_cpu(count):
    """CPU seconds per request of the floor through its own test client, with a transfer's body."""
    from scripts.floor_app import create_app
    client = create_app().test_client()
    body = {"from_wallet_id": "wal_" + "a" * 24, "to_wallet_id": "wal_" + "b" * 24, "amount": "1.00"}
    headers = {"Idempotency-Key": "k", "Authorization": "Bearer t"}
    for _ in range(WARM_UP):
        client.post("/floor", json=body, headers=headers)
    started = time.process_time()
    for _ in range(count):
        client.post("/floor", json=body, headers=headers)
    return (time.process_time() - started) / count


def batched(session, counter, payer, payees):
    """Round trips per item of one independent batch of BATCH_SIZE transfers."""
    auth, source = payer
    items = [{"from_wallet_id": source, "to_wallet_id": payees[i % len(payees)][1], "amount": "0.01"}
             for i in range(BATCH_SIZE)]
    counter.take()
    reply = session.post("/transfer-batches", {"mode": "independent", "transfers": items}, auth)
    posted = sum(result["status"] == "posted" for result in reply["results"])
    if posted != BATCH_SIZE:
        raise RuntimeError(f"only {posted} of {BATCH_SIZE} batch items were posted")
    return sum(counter.take().values()) / BATCH_SIZE


def other_operations(session, counter, payer, payee):
    """Operation name -> the most round trips one request of it took (of OPERATION_TRIES)."""
    (payer_auth, payer_wallet), (payee_auth, payee_wallet) = payer, payee
    pair = {"from_wallet_id": payer_wallet, "to_wallet_id": payee_wallet, "amount": "5.00"}

    def counted(name, path, body, auth, status=201):
        counter.take()
        reply = session.post(path, body, auth, status)
        commands = counter.take()
        if sum(commands.values()) >= sum(trips.get(name, {}).values()):
            trips[name] = commands
        return reply

    trips = {}
    for _ in range(OPERATION_TRIES):
        counted("deposit", f"/wallets/{payer_wallet}/deposits", {"amount": "5.00"}, session.operator)
        hold = counted("hold", "/holds", pair, payer_auth)
        counted("capture", f"/holds/{hold['id']}/capture", {"amount": "2.00"}, payee_auth, 200)
        transfer = session.post("/transfers", pair, payer_auth)
        counted("refund", f"/transfers/{transfer['id']}/refunds", {"amount": "1.00"}, payee_auth)
        request = session.post("/payment-requests", dict(pair, from_wallet_id=payer_wallet,
                                                         to_wallet_id=payee_wallet), payee_auth)
        counted("payment request approval", f"/payment-requests/{request['id']}/approve", {},
                payer_auth)
        counted("withdrawal", "/withdrawals", {"wallet_id": payer_wallet, "amount": "1.00",
                                               "destination": {"type": "sandbox", "account": "X1"}},
                payer_auth)
    return {name: sum(commands.values()) for name, commands in trips.items()}, trips


def measure(uri):
    """Every figure of the production path, from one run against the server at ``uri``."""
    counter = CommandCounter()
    app = make_app(uri, counter)
    store = app.extensions["storage"]  # the engine beneath the tenant layer: it drops the database
    try:
        session = Session(app)
        payer, payee = session.member(), session.member()
        payees = [payee] + [session.member(top_up="1.00") for _ in range(9)]
        single_transfers(session, counter, WARM_UP, payer, payee)
        single_trips, cpu_s, tenant_reads = single_transfers(session, counter, TRANSFERS, payer, payee)
        floor_s = floor_cpu(TRANSFERS)
        operations, commands = other_operations(session, counter, payer, payee)
        return {"single_trips": single_trips, "batched_trips": batched(session, counter, payer, payees),
                "cpu_ms": cpu_s * 1000, "floor_ms": floor_s * 1000, "tenant_reads": tenant_reads,
                "tenant_cache_s": app.config["TENANT_CACHE_S"],
                "operations": operations, "commands": commands}
    finally:
        store.drop()
        store.close()


def report(figures, commands=False):
    """Print the figures (``commands``: each operation's commands by name too); the targets
    each misses (empty when all are met)."""
    ratio = figures["cpu_ms"] / figures["floor_ms"]
    print(f"round trips per transfer: single {figures['single_trips']:g}, "
          f"batched {figures['batched_trips']:g} per item")
    print(f"tenant directory reads: {figures['tenant_reads']} in {TRANSFERS} single transfers "
          f"(once per TENANT_CACHE_S = {figures['tenant_cache_s']:g} s, not in the counts above or below)")
    print(f"app CPU per transfer: {figures['cpu_ms']:.2f} ms; floor: {figures['floor_ms']:.3f} ms per "
          f"request; ratio {ratio:.1f}")
    print("round trips per operation: " + ", ".join(
        f"{name} {count}" for name, count in figures["operations"].items()))
    if commands:
        for name, counts in figures["commands"].items():
            print(f"    {name}: " + ", ".join(f"{command} {n}" for command, n in sorted(counts.items())))
    missed = []
    if figures["single_trips"] > MAX_SINGLE_TRIPS:
        missed.append(f"single transfer: {figures['single_trips']:g} round trips > {MAX_SINGLE_TRIPS}")
    if figures["batched_trips"] > MAX_BATCHED_TRIPS:
        missed.append(f"batched: {figures['batched_trips']:g} round trips per item > {MAX_BATCHED_TRIPS}")
    if ratio > MAX_CPU_RATIO:
        missed.append(f"app CPU: {ratio:.1f} x the floor > {MAX_CPU_RATIO}")
    missed += [f"{name}: {count} round trips > {MAX_OTHER_TRIPS}"
               for name, count in figures["operations"].items() if count > MAX_OTHER_TRIPS]
    return missed


def run(uri=None, commands=False):
    """Measure on ``uri``, or on a stand-in started here; print the figures, return the targets missed."""
    if uri:
        return report(measure(uri), commands)
    from tests.support import wire_standin
    standin = wire_standin.start()
    try:
        figures = measure(standin.uri)
    finally:
        standin.stop()
    return report(figures, commands)


if __name__ == "__main__":
    missed = run(commands="--commands" in sys.argv[1:])
    for miss in missed:
        print("target missed:", miss)
    sys.exit(1 if missed else 0)
