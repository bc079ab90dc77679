"""Load benchmark: how close each path is to its limit, every figure from the same run.

First the production path (scripts/production_path.py): the app in this process on the wire
stand-in (or on MONGO_URI), round trips per request and app CPU per transfer against the floor.
Then the embedded engine (or MONGO_URI) under load, phases each for --seconds with C
keep-alive HTTP clients (the same client load):
1. the floor: a bare Flask route (scripts/floor_app.py) under the same gunicorn settings
   as `make run` (GUNICORN_FLAGS from the Makefile), parsing a JSON body, answering 201;
2. single transfers over HTTP against the API under those settings (or --url);
3. batches of --batch-size transfers over HTTP (`POST /transfer-batches`, independent);
4. the same single transfers in this process through app.ledger: the engine's own rate;
5. storage calls per transfer, single and batched, counted at the unit of work.
Last, on the embedded engine (not with --url or MONGO_URI), what each of its short paths
saves (scripts/embedded_paths.py): one that saves too little is a missed target.
Prints rates, ratios, outcome counts and latency percentiles. The books are checked after
every phase that moves money (GET /audit after 2 and 3, then every journal read back
through the API; app.audit after 4).

    make bench                                  # 8 threads, 20 wallets, 10 s, embedded engine
    make bench ARGS="--hot"                     # half of all transfers touch one wallet
    MONGO_URI=mongodb://... make bench          # server and ledger run on that MongoDB
    python scripts/loadtest.py --url http://host:8080 --operator-token T   # a running deployment
"""
import argparse
import http.client
import json
import os
import random
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.money import format_cents, parse_cents  # noqa: E402  (needs ROOT on the path)
from app.storage.tenancy import DEFAULT_TENANT  # noqa: E402

START_BALANCE_CENTS = 1_000_00
MAX_AMOUNT_CENTS = 50_00
BATCH_MAX_CENTS = 1_00
# The HTTP run's database: never MONGO_DB (that is production's on a real deployment).
BENCH_DB = f"wallet_bench_{uuid.uuid4().hex[:8]}"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--wallets", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hot", action="store_true", help="half of all transfers touch one wallet")
    parser.add_argument("--url", help="target a running API instead of starting one")
    parser.add_argument("--operator-token", default=os.environ.get("OPERATOR_TOKEN"))
    parser.add_argument("--gunicorn-flags",
                        default=os.environ.get("GUNICORN_FLAGS", "--config gunicorn.conf.py"),
                        help="gunicorn settings for the servers started here (make bench passes make run's)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-ledger", action="store_true", help="HTTP only (e.g. against --url)")
    parser.add_argument("--skip-production-path", action="store_true",
                        help="no round trips and app CPU on the wire stand-in (or MONGO_URI)")
    parser.add_argument("--skip-embedded-paths", action="store_true",
                        help="no measure of what each of the embedded engine's short paths saves")
    return parser.parse_args()


class Connection:
    """One keep-alive HTTP connection; reconnects after a failure."""

    def __init__(self, base_url):
        parts = urllib.parse.urlsplit(base_url)
        self._host, self._port = parts.hostname, parts.port or 80
        self._conn = None

    def request(self, method, path, body=None, headers=None):
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=30)
        payload = json.dumps(body) if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            self._conn.request(method, path, payload, all_headers)
            response = self._conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self._conn.close()
            self._conn = None
            raise
        return response.status, (json.loads(data) if data else None)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(gunicorn_flags, operator_token, app_spec="app:create_app()"):
    port = free_port()
    # HOST and PORT as `make run` passes them to gunicorn.conf.py; --bind for flags without one.
    # Never MONGO_DB: on a real deployment that is the production database. A throwaway one,
    # initialised here and dropped after the run.
    env = dict(os.environ, OPERATOR_TOKEN=operator_token, SECRET_KEY=uuid.uuid4().hex,
               HOST="127.0.0.1", PORT=str(port), MONGO_DB=BENCH_DB)
    if env.get("MONGO_URI") and app_spec == "app:create_app()":
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "init"], cwd=ROOT,
                       env=env, check=True, stdout=subprocess.DEVNULL)
    command = [sys.executable, "-m", "gunicorn", *shlex.split(gunicorn_flags),
               "--bind", f"127.0.0.1:{port}", app_spec]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if Connection(base_url).request("GET", "/health")[0] == 200:
                    return server, base_url
            except OSError:
                time.sleep(0.1)
    except BaseException:  # never leave a server behind
        server.kill()
        raise
    server.kill()
    sys.exit("the server did not start within 10 s")


def setup_http_wallets(base_url, operator_token, count):
    """Sign up ``count`` clients, log each in, top each up; [(auth headers, wallet id)]."""
    conn, run = Connection(base_url), uuid.uuid4().hex[:8]
    operator = {"Authorization": f"Bearer {operator_token}"}
    wallets = []
    for i in range(count):
        email = f"load-{run}-{i}@example.com"
        status, body = conn.request("POST", "/clients", {"email": email, "name": f"Load {i}",
                                                         "password": "load-test-password"})
        assert status == 201, body
        wallet_id = body["wallet"]["id"]
        status, token = conn.request("POST", "/auth/token",
                                     {"email": email, "password": "load-test-password"})
        assert status == 200, token
        status, body = conn.request("POST", f"/wallets/{wallet_id}/deposits",
                                    {"amount": f"{START_BALANCE_CENTS // 100}.00"}, operator)
        assert status == 201, body
        wallets.append(({"Authorization": f"Bearer {token['access_token']}"}, wallet_id))
    return wallets


def pick(rng, count, hot):
    """Indexes (source, target) of a random transfer; in hot mode half touch wallet 0."""
    if hot and rng.random() < 0.5:
        other = rng.randrange(1, count)
        return (0, other) if rng.random() < 0.5 else (other, 0)
    return tuple(rng.sample(range(count), 2))


def run_threads(threads, seconds, step):
    """Call ``step(rng)`` in ``threads`` threads until the time is up; results per thread."""
    results = [[] for _ in range(threads)]
    deadline = time.perf_counter() + seconds

    def loop(index):
        rng, out = random.Random(index * 7919 + 1), results[index]
        while time.perf_counter() < deadline:
            out.append(step(rng))

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [r for per_thread in results for r in per_thread], time.perf_counter() - started


def http_load(base_url, wallets, args):
    local = threading.local()

    def step(rng):
        if not hasattr(local, "conn"):
            local.conn = Connection(base_url)
        source, target = pick(rng, len(wallets), args.hot)
        body = {"from_wallet_id": wallets[source][1], "to_wallet_id": wallets[target][1],
                "amount": format_cents(rng.randint(1, MAX_AMOUNT_CENTS))}
        headers = dict(wallets[source][0], **{"Idempotency-Key": uuid.uuid4().hex})
        started = time.perf_counter()
        try:
            status, reply = local.conn.request("POST", "/transfers", body, headers)
        except (OSError, http.client.HTTPException):
            return "connection error", time.perf_counter() - started
        outcome = str(status) if status != 422 else f"422 {reply['code']}"
        return outcome, time.perf_counter() - started

    return run_threads(args.threads, args.seconds, step)


def floor_load(base_url, args):
    """The bare route with the body of a transfer: the most an endpoint could reach here."""
    local = threading.local()

    def step(rng):
        if not hasattr(local, "conn"):
            local.conn = Connection(base_url)
        body = {"from_wallet_id": f"wal_{rng.getrandbits(96):024x}", "to_wallet_id": "wal_x",
                "amount": format_cents(rng.randint(1, MAX_AMOUNT_CENTS))}
        started = time.perf_counter()
        try:
            status, _ = local.conn.request("POST", "/floor", body, {"Idempotency-Key": uuid.uuid4().hex})
        except (OSError, http.client.HTTPException):
            return "connection error", time.perf_counter() - started
        return str(status), time.perf_counter() - started

    return run_threads(args.threads, args.seconds, step)


def batch_load(base_url, wallets, args):
    """Independent batches of ``args.batch_size`` transfers, each from one sender; outcomes per item."""
    local = threading.local()

    def step(rng):
        if not hasattr(local, "conn"):
            local.conn = Connection(base_url)
        source = rng.randrange(len(wallets))
        # Small amounts: one sender pays the whole batch, and most items should fit.
        others = [wallet_id for i, (_, wallet_id) in enumerate(wallets) if i != source]
        items = [{"from_wallet_id": wallets[source][1], "to_wallet_id": rng.choice(others),
                  "amount": format_cents(rng.randint(1, BATCH_MAX_CENTS))} for _ in range(args.batch_size)]
        headers = dict(wallets[source][0], **{"Idempotency-Key": uuid.uuid4().hex})
        started = time.perf_counter()
        try:
            status, reply = local.conn.request("POST", "/transfer-batches",
                                               {"mode": "independent", "transfers": items}, headers)
        except (OSError, http.client.HTTPException):
            return ["connection error"], time.perf_counter() - started
        if status != 201:
            return [str(status)] * len(items), time.perf_counter() - started
        outcomes = ["201" if r["status"] == "posted" else f"422 {r['error']['code']}"
                    for r in reply["results"]]
        return outcomes, time.perf_counter() - started

    results, elapsed = run_threads(args.threads, args.seconds, step)
    per_item = [(outcome, latency) for outcomes, latency in results for outcome in outcomes]
    return per_item, elapsed, len(results)


def audit_problems(base_url, operator_token, phase):
    status, report = Connection(base_url).request(
        "GET", "/audit", headers={"Authorization": f"Bearer {operator_token}"})
    if status == 200 and report["ok"]:
        return []
    return [f"after {phase}: GET /audit {status}: {report}"]


def ledger_load(args):
    """The same random transfers through app.ledger in this process: the engine's own rate."""
    from app import audit, create_app, errors, ledger
    from app.storage.idempotency import IdempotencyKey

    database = f"wallet_bench_{uuid.uuid4().hex[:8]}"
    if os.environ.get("MONGO_URI"):
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "init"], cwd=ROOT,
                       env=dict(os.environ, MONGO_DB=database, OPERATOR_TOKEN="bench",
                                SECRET_KEY="bench"), check=True, stdout=subprocess.DEVNULL)
    # No sweeper or dispatcher thread here (make bench asks the servers for them): the ledger alone.
    app = create_app({"OPERATOR_TOKEN": "bench", "SECRET_KEY": "bench", "SWEEPER_THREAD": False,
                      "EVENTS_DISPATCHER_THREAD": False, "MONGO_DB": database})
    store = app.extensions["store"].tenant(DEFAULT_TENANT)  # the ledger acts in one tenant
    wallets = []
    for i in range(args.wallets):
        result, _ = ledger.create_client(store, f"ledger-{i}@example.com", f"L{i}", "not-a-hash")
        ledger.deposit(store, result["wallet"]["_id"], START_BALANCE_CENTS)
        wallets.append((result["client"]["_id"], result["wallet"]["_id"]))

    def step(rng):
        source, target = pick(rng, len(wallets), args.hot)
        # The same work as an HTTP transfer: it carries a fresh Idempotency-Key too.
        idem = IdempotencyKey(f"client:{wallets[source][0]}", uuid.uuid4().hex, uuid.uuid4().hex)
        started = time.perf_counter()
        try:
            ledger.transfer(store, wallets[source][0], wallets[source][1], wallets[target][1],
                            rng.randint(1, MAX_AMOUNT_CENTS), idem=idem)
            outcome = "201"
        except errors.InsufficientFunds:
            outcome = "422 insufficient_funds"
        return outcome, time.perf_counter() - started

    try:
        results, elapsed = run_threads(args.threads, args.seconds, step)
        calls = storage_calls(store, wallets, args.batch_size)
        books = audit.verify(store)
        problems = [f"{v['rule']} {v['id']}: {v['detail']}" for v in books.violations]
        if books.total_held_cents != START_BALANCE_CENTS * len(wallets):
            problems.append(f"ledger run holds {books.total_held_cents} cents, "
                            f"deposited {START_BALANCE_CENTS * len(wallets)}")
        return results, elapsed, problems, calls
    finally:
        if store.engine == "mongodb":
            app.extensions["storage"].drop()


class _Counted:
    """A collection of a unit of work that counts the calls made on it: each a round trip on MongoDB."""

    def __init__(self, collection, counter):
        self._collection, self._counter = collection, counter

    def __getattr__(self, name):
        self._counter[0] += 1
        return getattr(self._collection, name)


def storage_calls(store, wallets, batch_size):
    """(calls per single transfer, per batched transfer), each unit's commit counted as one call."""
    from app import ledger
    from app.storage import schema as db
    from app.storage.idempotency import IdempotencyKey
    counter, original = [0], store.transaction

    def counted(work):
        def unit(tx):
            for name in db.COLLECTIONS:
                setattr(tx, name, _Counted(getattr(tx, name), counter))
            return work(tx)
        counter[0] += 1  # the commit
        return original(unit)

    store.transaction = counted
    try:
        (owner, source), (_, target) = wallets[0], wallets[1]
        for _ in range(10):
            ledger.transfer(store, owner, source, target, 1,
                            idem=IdempotencyKey(f"client:{owner}", uuid.uuid4().hex, "f"))
        single, counter[0] = counter[0] / 10, 0
        items = [{"from_wallet_id": source, "to_wallet_id": wallets[1 + i % (len(wallets) - 1)][1],
                  "amount_cents": 1} for i in range(batch_size)]
        ledger.create_batch(store, owner, "independent", items,
                            idem=IdempotencyKey(f"client:{owner}", uuid.uuid4().hex, "f"))
        return single, counter[0] / batch_size
    finally:
        store.transaction = original


def verify(base_url, operator_token, wallets):
    """Money conserved and every journal whole, read back through the API."""
    conn = Connection(base_url)
    operator = {"Authorization": f"Bearer {operator_token}"}
    problems, held = [], 0
    for _, wallet_id in wallets:
        status, wallet = conn.request("GET", f"/wallets/{wallet_id}", headers=operator)
        balance = parse_signed(wallet["balance"])
        held += balance
        entries, cursor = [], None
        while True:
            path = f"/wallets/{wallet_id}/operations?limit=100" + (f"&after={cursor}" if cursor else "")
            status, page = conn.request("GET", path, headers=operator)
            entries += page["data"]
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
        amounts = [parse_signed(e["amount"]) for e in entries]
        if sum(amounts) != balance:
            problems.append(f"{wallet_id}: journal sums to {sum(amounts)}, balance is {balance}")
        seqs = [e["seq"] for e in entries]
        if seqs != list(range(len(entries), 0, -1)) or wallet["version"] != len(entries):
            problems.append(f"{wallet_id}: seq is not 1..{len(entries)}")
        if balance < 0:
            problems.append(f"{wallet_id}: negative balance")
    if held != START_BALANCE_CENTS * len(wallets):
        problems.append(f"money held {held} != deposited {START_BALANCE_CENTS * len(wallets)}")
    return problems


def parse_signed(text):
    return -parse_cents(text[1:]) if text.startswith("-") else parse_cents(text)


def percentile(sorted_values, fraction):
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def report(title, results, elapsed, unit="transfers"):
    outcomes = {}
    for outcome, _ in results:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    done = sum(n for o, n in outcomes.items() if o.startswith(("201", "422")))
    print(f"{title}: {done / elapsed:,.0f} {unit}/s ({done} in {elapsed:.1f} s)")
    for outcome, count in sorted(outcomes.items()):
        print(f"    {outcome:<28} {count}")
    latencies = sorted(latency for _, latency in results)
    if latencies:
        print("    latency ms: p50 {:.1f}  p95 {:.1f}  p99 {:.1f}  max {:.1f}".format(
            *(1000 * percentile(latencies, f) for f in (0.5, 0.95, 0.99, 1.0))))
    return done / elapsed, outcomes


def drop_bench_database():
    """The HTTP run's throwaway database goes once the run is over (MongoDB only)."""
    if os.environ.get("MONGO_URI"):
        from pymongo import MongoClient
        with MongoClient(os.environ["MONGO_URI"]) as client:
            client.drop_database(BENCH_DB)


def main():
    args = parse_args()
    token = args.operator_token or uuid.uuid4().hex
    missed = []
    if not args.url and not args.skip_production_path:
        from scripts import production_path
        where = "MONGO_URI" if os.environ.get("MONGO_URI") else "the wire stand-in"
        print(f"== production path: the app in this process on {where}, Flask test client, one at a time")
        missed = production_path.run(os.environ.get("MONGO_URI"))
    engine = os.environ.get("MONGO_URI") and "mongodb" or "embedded"
    print(f"== {engine} engine: gunicorn as `make run` starts it, HTTP clients in threads")
    print(f"engine {engine if not args.url else 'of the target'}; {args.threads} client threads, "
          f"{args.wallets} wallets, {args.seconds:g} s per phase{', hot wallet' if args.hot else ''}; "
          f"{os.cpu_count()} cores; gunicorn {args.gunicorn_flags}")
    floor_rate = None
    if not args.url:
        server, floor_url = start_server(args.gunicorn_flags, token, "scripts.floor_app:create_app()")
        try:
            floor_rate, _ = report("floor (bare Flask route, JSON in, 201 JSON out)",
                                   *floor_load(floor_url, args), unit="requests")
        finally:
            server.terminate()
            server.wait()
    http_rate, batch_rate, problems, failed = http_phases(args, token)
    if floor_rate:
        print(f"single HTTP / floor: {http_rate / floor_rate:.2f}")
    print(f"batch HTTP / single HTTP: {batch_rate / http_rate:.2f}")
    if not args.skip_ledger:
        results, elapsed, ledger_problems, (single_calls, batched_calls) = ledger_load(args)
        ledger_rate, _ = report("ledger in-process (single transfers)", results, elapsed)
        print(f"single HTTP / ledger: {http_rate / ledger_rate:.2f}")
        print(f"batch HTTP / ledger: {batch_rate / ledger_rate:.2f}")
        print(f"storage calls per transfer (commit included): single {single_calls:.2f}, "
              f"in a batch of {args.batch_size} {batched_calls:.2f}")
        problems += [f"ledger run: {problem}" for problem in ledger_problems]
    if engine == "embedded" and not args.url and not args.skip_embedded_paths:
        from scripts import embedded_paths
        print("== the embedded engine's short paths: the app in this process, Flask test client")
        missed += embedded_paths.run(seed=args.seed)
    print("invariants after every phase:", "intact (money conserved, every journal sums to its "
          "balance, seq contiguous, audit ok)" if not problems else "BROKEN")
    for problem in problems:
        print("   ", problem)
    for miss in missed:
        print("target missed:", miss)
    return 1 if problems or failed else 0


def http_phases(args, token):
    """Singles, then batches, against the API; (single rate, batch rate, problems, failures)."""
    server = None
    if args.url:
        base_url = args.url.rstrip("/")
        if not args.operator_token:
            sys.exit("--url needs --operator-token (or OPERATOR_TOKEN)")
    else:
        server, base_url = start_server(args.gunicorn_flags, token)
    try:
        wallets = setup_http_wallets(base_url, token, args.wallets)
        http_rate, outcomes = report("single transfers over HTTP", *http_load(base_url, wallets, args))
        problems = audit_problems(base_url, token, "single transfers")
        results, elapsed, batches = batch_load(base_url, wallets, args)
        batch_rate, batch_outcomes = report(
            f"batches of {args.batch_size} over HTTP ({batches} batches)", results, elapsed)
        problems += audit_problems(base_url, token, "batches") + verify(base_url, token, wallets)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
            drop_bench_database()
    failed = sum(n for o, n in list(outcomes.items()) + list(batch_outcomes.items())
                 if o.startswith("5") or o == "connection error")
    return http_rate, batch_rate, problems, failed


if __name__ == "__main__":
    sys.exit(main())
