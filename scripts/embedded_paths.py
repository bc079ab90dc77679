"""What each of the embedded engine's short paths saves (app/storage/embedded/engine.py,
ACCELERATORS), measured in one run: the app in this process on the embedded engine, with
grown books, answers each kind of request with every short path on, and with each one off
(then all off), the settings taken in a shuffled order in every round.

It prints the median over rounds of the CPU milliseconds per request of each kind with all on, and for each
short path off the ratio off/on. A short path earns its lines when some kind of request is at
least KEEP_AT times slower without it; ``run`` returns what it prints of one that is not.

    .venv/bin/python -m scripts.embedded_paths               # 3000 transfers of growth, 3 rounds
    .venv/bin/python -m scripts.embedded_paths --growth 10000 --rounds 5
"""
import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.storage.embedded.engine import ACCELERATORS  # noqa: E402  (needs the root on the path)

KEEP_AT = 1.2
OPERATOR = {"Authorization": "Bearer embedded-paths-operator"}
# Kind -> requests timed per setting and round (the slow kinds fewer).
KINDS = {"transfer": 20, "operations": 10, "search": 10, "statement": 3, "events": 5, "audit": 1}


def make_app():
    from app import create_app
    from app.web import observability
    from config import Config
    config = {key: getattr(Config, key) for key in dir(Config) if key.isupper()}
    config.update(MONGO_URI=None, OPERATOR_TOKEN=OPERATOR["Authorization"].split()[1],
                  SECRET_KEY=uuid.uuid4().hex, SWEEPER_THREAD=False, EVENTS_DISPATCHER_THREAD=False,
                  PASSWORD_HASH_METHOD="scrypt:1024:8:1")  # sign-ups are set-up, not measured
    app = create_app(config)
    observability.configure_logging(app.config, open(os.devnull, "w"))  # as make bench's servers
    return app


class Books:
    """An embedded app whose books grew by ``growth`` transfers between ``wallets`` members."""

    def __init__(self, growth, wallets, seed):
        self.app = make_app()
        self.client = self.app.test_client()
        self.rng = random.Random(seed)
        self.members = [self._member() for _ in range(wallets)]
        for i in range(growth):
            self.transfer(metadata={"order": str(i % 50)})

    def _member(self):
        email = f"paths-{uuid.uuid4().hex[:8]}@example.com"
        body = self.client.post("/clients", json={"email": email, "name": "Paths",
                                                  "password": "paths-pass"}).json
        token = self.client.post("/auth/token", json={"email": email, "password": "paths-pass"}).json
        wallet = body["wallet"]["id"]
        self._ok(self.client.post(f"/wallets/{wallet}/deposits", json={"amount": "1000000.00"},
                                  headers=OPERATOR), 201)
        return {"Authorization": f"Bearer {token['access_token']}"}, wallet

    @staticmethod
    def _ok(response, status=200):
        if response.status_code != status:
            raise RuntimeError(f"{response.request.path}: {response.status_code} {response.json}")
        return response

    def transfer(self, metadata=None):
        (auth, source), (_, target) = self.rng.sample(self.members, 2)
        body = {"from_wallet_id": source, "to_wallet_id": target,
                "amount": f"{self.rng.randint(1, 5000) / 100:.2f}"}
        if metadata:
            body["metadata"] = metadata
        self._ok(self.client.post("/transfers", json=body, headers=dict(
            auth, **{"Idempotency-Key": uuid.uuid4().hex})), 201)

    def request(self, kind):
        auth, wallet = self.rng.choice(self.members)
        if kind == "transfer":
            return self.transfer()
        path, query = {
            "operations": (f"/wallets/{wallet}/operations", {"limit": 20}),
            "search": ("/transfers", {"metadata[order]": str(self.rng.randrange(50)), "limit": 20}),
            "statement": (f"/wallets/{wallet}/report", {"format": "json"}),
            "events": ("/events", {"limit": 100}),
            "audit": ("/audit", {}),
        }[kind]
        headers = auth if kind in ("operations", "statement") else OPERATOR
        response = self._ok(self.client.get(path, query_string=query, headers=headers))
        response.get_data()  # a streamed statement is made while it is read


def measure(books, on):
    """{kind: mean CPU ms per request} for the set of short paths ``on``, one round."""
    store = books.app.extensions["storage"]
    store.use_accelerators(on)
    try:
        found = {}
        for kind, count in KINDS.items():
            books.request(kind)  # not timed: the first of a kind after a switch
            started = time.process_time()
            for _ in range(count):
                books.request(kind)
            found[kind] = (time.process_time() - started) * 1000 / count
        return found
    finally:
        store.use_accelerators(ACCELERATORS)


def run(growth=3000, wallets=20, rounds=3, seed=1):
    """Measure, print the table; the lines saying which short path saves too little (if any)."""
    print(f"embedded short paths: {growth} transfers of growth among {wallets} wallets, "
          f"{rounds} rounds, settings in shuffled order; median CPU ms per request")
    books = Books(growth, wallets, seed)
    settings = {"all on": set(ACCELERATORS)}
    settings.update({f"{name} off": set(ACCELERATORS) - {name} for name in ACCELERATORS})
    settings["all off"] = set()
    samples = {setting: {kind: [] for kind in KINDS} for setting in settings}
    order = random.Random(seed)
    for _ in range(rounds):
        names = list(settings)
        order.shuffle(names)
        for setting in names:
            for kind, ms in measure(books, settings[setting]).items():
                samples[setting][kind].append(ms)
    medians = {setting: {kind: statistics.median(values) for kind, values in kinds.items()}
               for setting, kinds in samples.items()}
    base = medians["all on"]
    print(f"{'setting':<12}" + "".join(f"{kind:>12}" for kind in KINDS))
    print(f"{'all on (ms)':<12}" + "".join(f"{base[kind]:>12.2f}" for kind in KINDS))
    missed = []
    for setting, found in medians.items():
        if setting == "all on":
            continue
        ratios = {kind: found[kind] / base[kind] for kind in KINDS}
        print(f"{setting:<12}" + "".join(f"{ratios[kind]:>11.1f}x" for kind in KINDS))
        if setting != "all off" and max(ratios.values()) < KEEP_AT:
            missed.append(f"embedded short path {setting.split()[0]!r} saves less than "
                          f"{KEEP_AT}x on every kind of request")
    print(f"a short path earns its lines when some kind is at least {KEEP_AT}x slower without it")
    return missed


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--growth", type=int, default=3000, help="transfers made before measuring")
    parser.add_argument("--wallets", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for line in run(args.growth, args.wallets, args.rounds, args.seed):
        print("target missed:", line)


if __name__ == "__main__":
    main()
