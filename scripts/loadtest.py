"""Load benchmark: transfers per second over HTTP, against the ledger's own rate.

Starts the API under gunicorn on a free loopback port (or targets --url), signs
up W wallets and tops them up, then C keep-alive HTTP clients send random
transfers for a fixed time. Then the same transfers run in this process
through the ledger functions, without HTTP. Prints both rates, their ratio,
outcome counts and latency percentiles, and finally checks that money was
conserved and that every journal sums to its balance.

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

START_BALANCE_CENTS = 1_000_00
MAX_AMOUNT_CENTS = 50_00
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
    parser.add_argument("--server-threads", type=int, default=8,
                        help="gunicorn threads when started here (only for a gthread worker: "
                             "gunicorn.conf.py, which gunicorn reads from here, picks gevent)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-ledger", action="store_true", help="HTTP only (e.g. against --url)")
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


def start_server(server_threads, operator_token):
    port = free_port()
    # Never MONGO_DB: on a real deployment that is the production database. A throwaway one,
    # initialised here and dropped by main() after the run.
    env = dict(os.environ, OPERATOR_TOKEN=operator_token, SECRET_KEY=uuid.uuid4().hex,
               MONGO_DB=BENCH_DB)
    if env.get("MONGO_URI"):
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "init"], cwd=ROOT,
                       env=env, check=True, stdout=subprocess.DEVNULL)
    command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", str(server_threads),
               "--bind", f"127.0.0.1:{port}", "app:create_app()"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if Connection(base_url).request("GET", "/health")[0] == 200:
                return server, base_url
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit("the API did not start within 10 s")


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


def ledger_load(args):
    """The same random transfers through app.ledger in this process: the engine's own rate."""
    from app import audit, create_app, errors, ledger
    from app.idempotency import IdempotencyKey

    database = f"wallet_bench_{uuid.uuid4().hex[:8]}"
    if os.environ.get("MONGO_URI"):
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "init"], cwd=ROOT,
                       env=dict(os.environ, MONGO_DB=database, OPERATOR_TOKEN="bench",
                                SECRET_KEY="bench"), check=True, stdout=subprocess.DEVNULL)
    app = create_app({"OPERATOR_TOKEN": "bench", "SECRET_KEY": "bench", "MONGO_DB": database})
    store = app.extensions["store"]
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
        books = audit.verify(store)
        problems = [f"{v['rule']} {v['id']}: {v['detail']}" for v in books.violations]
        if books.total_held_cents != START_BALANCE_CENTS * len(wallets):
            problems.append(f"ledger run holds {books.total_held_cents} cents, "
                            f"deposited {START_BALANCE_CENTS * len(wallets)}")
        return results, elapsed, problems
    finally:
        if store.engine == "mongodb":
            store._client.drop_database(app.config["MONGO_DB"])


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


def report(title, results, elapsed):
    outcomes = {}
    for outcome, _ in results:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    done = sum(n for o, n in outcomes.items() if o.startswith(("201", "422")))
    print(f"{title}: {done / elapsed:,.0f} transfers/s ({done} in {elapsed:.1f} s)")
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
    server = None
    if args.url:
        base_url = args.url.rstrip("/")
        if not args.operator_token:
            sys.exit("--url needs --operator-token (or OPERATOR_TOKEN)")
    else:
        server, base_url = start_server(args.server_threads, token)
    engine = os.environ.get("MONGO_URI") and "mongodb" or "embedded"
    print(f"target {base_url}; engine {engine if not args.url else 'of the target'}; "
          f"{args.threads} client threads, {args.wallets} wallets, {args.seconds:g} s"
          f"{', hot wallet' if args.hot else ''}; {os.cpu_count()} cores")
    try:
        wallets = setup_http_wallets(base_url, token, args.wallets)
        http_rate, outcomes = report("HTTP", *http_load(base_url, wallets, args))
        problems = verify(base_url, token, wallets)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
            drop_bench_database()
    failed = sum(n for o, n in outcomes.items() if o.startswith("5") or o == "connection error")
    if not args.skip_ledger:
        results, elapsed, ledger_problems = ledger_load(args)
        ledger_rate, _ = report("ledger in-process", results, elapsed)
        print(f"HTTP / ledger ratio: {http_rate / ledger_rate:.2f}")
        problems += [f"ledger run: {problem}" for problem in ledger_problems]
    runs = "the HTTP run" + ("" if args.skip_ledger else " and the ledger run")
    print(f"invariants after {runs}:", "intact (money conserved, every journal sums to its balance, "
          "seq contiguous)" if not problems else "BROKEN")
    for problem in problems:
        print("   ", problem)
    return 1 if problems or failed else 0


if __name__ == "__main__":
    sys.exit(main())
