"""Benchmark the statements: rows per second and peak memory growth, by format and size.

(a) The report builders alone, fed journal entries generated one at a time.
(b) GET /wallets/{id}/report on the embedded engine, through Flask's test client.
(c) One page of GET /wallets/{id}/operations at entry 50,000 of 100,000 against a
    page of a short journal, in the same run: the ratio shows whether a deep page
    is still one indexed range read.

Memory is Python's own allocations (tracemalloc) from the start of one run to
its peak; a second, untraced run gives the speed, because tracing slows Python
down. Run: make bench-reports (or python -m scripts.bench_reports --help).
"""
import argparse
import os
import platform
import resource
import time
import tracemalloc
from datetime import datetime, timedelta

import reports
from app import create_app, ledger
from app.storage.embedded import engine as embedded
from app.web.pagination import seq_cursor
from reports import Statement

START = datetime(2024, 1, 1)
OPERATOR_TOKEN = "bench-operator-token"
REPEATS = 21  # pages timed per journal; the median is printed


def journal(wallet_id, count):
    """``count`` well-formed journal entries, made one at a time (nothing is kept)."""
    balance = 0
    for seq in range(1, count + 1):
        outgoing = seq % 3 == 0 and balance > 1_000
        amount = -(seq % 997 + 1) if outgoing else seq % 5_000 + 100
        kind = "transfer_out" if outgoing else ("transfer_in" if seq % 3 == 1 else "deposit")
        balance += amount
        transfer = kind != "deposit"
        yield {"_id": f"op_{seq:024x}", "wallet_id": wallet_id, "seq": seq, "type": kind,
               "amount_cents": amount, "balance_after_cents": balance,
               "counterparty_wallet_id": "wal_0123456789abcdef01234567" if transfer else None,
               "transfer_id": f"tr_{seq:024x}" if transfer else None,
               "details": f'invoice {seq}, "net 30"' if seq % 2 else None,
               "created_at": START + timedelta(milliseconds=250 * seq)}


def measure(run):
    """(seconds, output bytes) of an untraced run, then the traced peak growth in bytes."""
    began = time.perf_counter()
    size = run()
    seconds = time.perf_counter() - began
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    run()
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    return seconds, size, peak


def builders_alone(kind, count):
    statement = Statement(wallet_id="wal_bench", client_id="cli_bench", currency="USD",
                          version=count, period_from=None, period_to=None, opening_seq=0,
                          closing_seq=count, opening_balance_cents=0)

    def run():
        chunks = reports.FORMATS[kind].build(statement, journal("wal_bench", count))
        return sum(len(chunk) for chunk in chunks)
    return measure(run)


def seeded_app(count):
    """An app on the embedded engine with one wallet whose journal holds ``count`` entries.

    The entries are inserted directly (100k deposits through the ledger would take minutes
    and measure the ledger, not the report)."""
    app = create_app({"TESTING": True, "MONGO_URI": None, "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING",
                      "OPERATOR_TOKEN": OPERATOR_TOKEN})
    store = app.extensions["store"]
    created, _ = ledger.create_client(store, "bench@example.com", "Bench", "not a hash")
    wallet_id = created["wallet"]["_id"]
    balance = 0
    for entry in journal(wallet_id, count):
        store.collections["operations"].insert_one(entry)
        balance = entry["balance_after_cents"]
    store.collections["wallets"].update_one(
        {"_id": wallet_id}, {"$set": {"version": count, "balance_cents": balance}})
    return app, wallet_id


def endpoint(app, wallet_id, kind):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

    def run():
        response = client.get(f"/wallets/{wallet_id}/report?format={kind}", headers=headers)
        assert response.status_code == 200, response.status_code
        size = sum(len(chunk) for chunk in response.response)
        response.close()
        return size
    return measure(run)


def page_ms(app, wallet_id, before_seq, repeats=REPEATS):
    """The median time of one 20-entry page of /operations ending just below ``before_seq``."""
    client = app.test_client()
    url = f"/wallets/{wallet_id}/operations?limit=20&after={seq_cursor(before_seq)}"
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append(time.perf_counter() - began)
        assert response.status_code == 200 and response.json["data"][0]["seq"] == before_seq - 1
    return sorted(times)[len(times) // 2] * 1000


def deep_pages(long_count, short_count=100):
    short_app, short_wallet = seeded_app(short_count)
    short = page_ms(short_app, short_wallet, short_count // 2)
    long_app, long_wallet = seeded_app(long_count)
    deep = page_ms(long_app, long_wallet, long_count // 2)
    print(f"page at entry {short_count // 2:,} of {short_count:,}: {short:8.2f} ms (median of {REPEATS})")
    print(f"page at entry {long_count // 2:,} of {long_count:,}: {deep:8.2f} ms (median of {REPEATS})")
    print(f"ratio deep / short: {deep / short:.2f}")


def machine():
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), "unknown CPU")
    return (f"{os.cpu_count()} CPUs ({model}), {total_kib / 2**20:.1f} GiB RAM, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def line(kind, count, seconds, size, peak):
    return (f"{kind:<5} {count:>9,} {seconds:>8.2f} {count / seconds:>11,.0f} "
            f"{size / 2**20:>9.1f} {peak / 2**10:>12,.0f}")


HEADER = f"{'fmt':<5} {'rows':>9} {'seconds':>8} {'rows/s':>11} {'out MiB':>9} {'peak KiB':>12}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="rows for (a)")
    parser.add_argument("--endpoint-sizes", default="10000,100000", help="rows for (b)")
    parser.add_argument("--journal", type=int, default=100_000, help="entries of the long journal for (c)")
    parser.add_argument("--without-range-index", action="store_true",
                        help="(b) and (c) as before the embedded engine had seq range indexes")
    options = parser.parse_args()
    print(f"machine: {machine()}")
    print("\n(a) report builders alone, journal entries generated one at a time")
    print(HEADER)
    for count in [int(size) for size in options.sizes.split(",") if size]:
        for kind in reports.FORMATS:
            print(line(kind, count, *builders_alone(kind, count)), flush=True)
    if options.without_range_index:
        embedded.IndexedDocuments.range_candidates = lambda self, filter, pinned, best: None
        embedded.IndexedCollection.page_in_order = lambda self, *page: None
    print("\n(b) GET /wallets/{id}/report on the embedded engine (Flask test client, one thread)."
          "\n    The embedded engine keeps every journal entry in this process's memory; that"
          "\n    memory is there before the request and is not counted below."
          + ("\n    WITHOUT the seq range index (as before)" if options.without_range_index else ""))
    print(HEADER)
    for count in [int(size) for size in options.endpoint_sizes.split(",") if size]:
        app, wallet_id = seeded_app(count)
        for kind in reports.FORMATS:
            print(line(kind, count, *endpoint(app, wallet_id, kind)), flush=True)
    print("\n(c) GET /wallets/{id}/operations?limit=20&after=..., embedded engine, one thread")
    deep_pages(options.journal)
    print(f"\nprocess peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:,.0f} MiB")


if __name__ == "__main__":
    main()
