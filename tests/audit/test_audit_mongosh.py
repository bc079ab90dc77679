"""scripts/audit.js in real mongosh gives the Python audit's verdict, on MONGO_URI's server.

mongosh is the npm package pinned in package.json, installed into ./node_modules by
`make node-tools` (`make test` does it first; this module does it too if it is missing, and
fails, never skips, when it cannot). Each case writes the healthy world of tests/support/corruptions.py
into a fresh database through the app, breaks it one way, and compares the violations mongosh
prints with app.audit.verify's and with the corruption's own list. Runs wherever MONGO_URI
names a server (the wire stand-in in `make test`, a replica set in `make test-mongo`) and
Node.js is installed.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app import audit
from app.money import format_cents
from tests.conftest import MONGO_URI, make_app
from tests.support.corruptions import CORRUPTIONS, build_world

ROOT = Path(__file__).resolve().parents[2]
MONGOSH = ROOT / "node_modules" / ".bin" / "mongosh"
PINNED = json.loads((ROOT / "package.json").read_text())["devDependencies"]["mongosh"]

pytestmark = [pytest.mark.mongo,
              pytest.mark.skipif(not MONGO_URI, reason="needs MONGO_URI naming a MongoDB server"),
              pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run mongosh")]


@pytest.fixture(scope="module")
def mongosh():
    """The pinned mongosh, installed by `make node-tools` if it is not yet."""
    if not MONGOSH.exists():
        built = subprocess.run(["make", "-s", "node-tools"], cwd=ROOT, capture_output=True, text=True)
        if built.returncode != 0 or not MONGOSH.exists():
            pytest.fail(f"mongosh could not be installed (make node-tools):\n{built.stdout}{built.stderr}")
    version = subprocess.run([MONGOSH, "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == PINNED, f"node_modules holds mongosh {version.stdout!r}, not {PINNED}"
    return MONGOSH


@pytest.fixture
def mongo_app():
    app = make_app("mongodb")
    yield app
    app.extensions["storage"].drop()
    app.extensions["storage"].close()


@pytest.fixture
def store(mongo_app):
    return mongo_app.extensions["store"].tenant("default")


def run_audit_js(mongosh, database_name):
    """(exit status, lines printed) of `mongosh MONGO_URI scripts/audit.js` with MONGO_DB set."""
    done = subprocess.run([mongosh, "--quiet", MONGO_URI, str(ROOT / "scripts" / "audit.js")],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, MONGO_DB=database_name))
    assert not done.stderr.strip(), done.stderr
    return done.returncode, done.stdout.splitlines()


@pytest.mark.parametrize("corrupt", [None] + CORRUPTIONS,
                         ids=lambda corrupt: corrupt.__name__ if corrupt else "healthy")
def test_mongosh_gives_the_python_audits_verdict(mongosh, mongo_app, store, corrupt):
    world = build_world(store)
    expected = corrupt(world) if corrupt else set()
    report = audit.verify(store)
    code, lines = run_audit_js(mongosh, mongo_app.config["MONGO_DB"])
    violations = [line.split(" ", 3) for line in lines if line.startswith("VIOLATION ")]
    found = {(rule, None if subject == "null" else subject) for _, rule, subject, *_ in violations}
    assert found == {(v["rule"], v["id"]) for v in report.violations} == expected
    assert code == (1 if expected else 0)
    assert lines[1] == (f"wallets: {report.wallets}  entries: {report.entries}  "
                        f"money in: {format_cents(report.total_deposited_cents)}  "
                        f"money held: {format_cents(report.total_held_cents)}")
    assert lines[-1] == (f"FAILED: {len(expected)} violation(s)" if expected else "OK: the books balance")
