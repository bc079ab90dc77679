"""scripts/audit_pipelines.json (what scripts/audit.js runs) finds exactly what app/audit/rules.py finds.

Here the pipelines run on mongomock, with no server; tests/audit/test_audit_mongosh.py runs audit.js
in real mongosh against MONGO_URI's server. mongomock's $lookup lacks the MongoDB 5.0 form that
adds a sub-pipeline to localField/foreignField; ``run`` below emulates it as the server defines
it: the plain $lookup, then the sub-pipeline over each array.
"""
import json
import pathlib
import shutil
import subprocess
import sys

import pytest
from mongomock.aggregate import process_pipeline

from app import audit
from app.audit import pipelines
from app.money import format_cents
from tests.support.corruptions import CORRUPTIONS, build_world

PIPELINES_FILE = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "audit_pipelines.json"
SPEC = json.loads(PIPELINES_FILE.read_text())


def run(collection, pipeline):
    """The pipeline's output documents, on mongomock."""
    database = collection.database
    documents = list(collection.find())
    for stage in pipeline:
        lookup = stage.get("$lookup", {})
        if "pipeline" in lookup:
            plain = {key: value for key, value in lookup.items() if key != "pipeline"}
            documents = list(process_pipeline(documents, database, [{"$lookup": plain}], None))
            for document in documents:
                document[lookup["as"]] = list(process_pipeline(
                    document[lookup["as"]], database, lookup["pipeline"], None))
        else:
            documents = list(process_pipeline(documents, database, [stage], None))
    return documents


def pipeline_findings(collections):
    """(rule, id) for every broken rule, plus the totals, the way audit.js reads the output."""
    found = set()
    for check in SPEC["checks"]:
        for document in run(collections[check["collection"]], check["pipeline"]):
            found |= {(rule, document["id"]) for rule in check["rules"] if document[rule] is True}
    totals = {}
    for total in SPEC["totals"]:
        (row,) = run(collections[total["collection"]], total["pipeline"]) or [{}]
        totals.update(row)
    rule = SPEC["conservation"]
    if sum(totals.get(name, 0) for name in rule["sum_of"]) != 0:
        found.add((rule["rule"], None))
    return found, totals


@pytest.fixture
def embedded_app():
    from tests.conftest import make_app
    return make_app()


@pytest.fixture
def embedded_store(embedded_app):
    return embedded_app.extensions["store"].tenant("default")


def test_the_file_is_what_the_rule_table_generates():
    assert PIPELINES_FILE.read_text() == pipelines.render(), (
        "scripts/audit_pipelines.json is stale: python -m app.audit.pipelines > scripts/audit_pipelines.json")


def test_the_generator_runs_as_a_command():
    done = subprocess.run([sys.executable, "-m", "app.audit.pipelines"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == SPEC


def test_pipelines_name_exactly_the_audit_rules():
    named = {rule for check in SPEC["checks"] for rule in check["rules"]}
    assert named | {SPEC["conservation"]["rule"]} == set(audit.RULES)
    for check in SPEC["checks"]:
        # The closing $match keeps a document when any of the check's rules is broken.
        matched = {next(iter(clause)) for clause in check["pipeline"][-1]["$match"].get(
            "$or", [check["pipeline"][-1]["$match"]])}
        assert matched == set(check["rules"]), check["name"]


def test_healthy_books_give_no_findings_and_the_same_totals(embedded_app, embedded_store):
    build_world(embedded_store)
    found, totals = pipeline_findings(embedded_app.extensions["storage"].collections)
    report = audit.verify(embedded_store)
    assert found == set() and report.ok
    assert (totals["wallets"], totals["entries"]) == (report.wallets, report.entries) == (3, 6)
    assert totals["total_held_cents"] == report.total_held_cents == 1500
    assert totals["total_deposited_cents"] == report.total_deposited_cents == 1500
    assert totals["system_balance_cents"] == report.system_balances["bank"] == -1500


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda corrupt: corrupt.__name__)
def test_pipelines_find_what_the_audit_finds(embedded_app, embedded_store, corrupt):
    expected = corrupt(build_world(embedded_store))
    found, _ = pipeline_findings(embedded_app.extensions["storage"].collections)
    assert found == expected
    assert {(v["rule"], v["id"]) for v in audit.verify(embedded_store).violations} == expected


NODE = shutil.which("node")
ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_audit_js(collections, tmp_path):
    """scripts/audit.js under Node, its aggregates answered by the pipelines run on mongomock."""
    answers = {f"{group}/{index}": run(collections[entry["collection"]], entry["pipeline"])
               for group in ("checks", "totals") for index, entry in enumerate(SPEC[group])}
    answers_file = tmp_path / "answers.json"
    answers_file.write_text(json.dumps(answers, default=str))
    done = subprocess.run([NODE, str(ROOT / "tests" / "support" / "mongosh_shim.js"),
                           str(ROOT / "scripts" / "audit.js"), str(answers_file)],
                          capture_output=True, text=True, timeout=60, env={"MONGO_DB": "ledger_x"})
    assert not done.stderr, done.stderr
    lines = done.stdout.splitlines()
    shim = json.loads(lines.pop()[len("SHIM "):])
    return done.returncode, lines, shim


# The verdict on every corruption is tests/audit/test_audit_mongosh.py's, in real mongosh. The shim
# stays for what a server's answers cannot show: audit.js reads through one snapshot session that
# it ends, passes allowDiskUse to every aggregate and runs each pipeline of the spec once; and it
# runs without a server.
@pytest.mark.skipif(NODE is None, reason="needs node to run scripts/audit.js")
@pytest.mark.parametrize("corrupt", [None, CORRUPTIONS[0]],
                         ids=lambda corrupt: corrupt.__name__ if corrupt else "healthy")
def test_audit_js_reads_one_snapshot_and_reports_what_the_audit_reports(
        embedded_app, embedded_store, corrupt, tmp_path):
    world = build_world(embedded_store)
    expected = corrupt(world) if corrupt else set()
    code, lines, shim = run_audit_js(embedded_app.extensions["storage"].collections, tmp_path)
    violations = [line.split(" ", 3) for line in lines if line.startswith("VIOLATION ")]
    found = {(rule, None if subject == "null" else subject) for _, rule, subject, *_ in violations}
    assert found == expected
    assert code == (1 if expected else 0)
    assert lines[0] == "database: ledger_x"
    report = audit.verify(embedded_store)
    assert lines[1] == (f"wallets: {report.wallets}  entries: {report.entries}  "
                        f"money in: {format_cents(report.total_deposited_cents)}  "
                        f"money held: {format_cents(report.total_held_cents)}")
    assert lines[-1] == (f"FAILED: {len(expected)} violation(s)" if expected else "OK: the books balance")
    assert shim["snapshot"] == {"snapshot": True} and shim["ended"] is True
    assert len(shim["calls"]) == len(SPEC["checks"]) + len(SPEC["totals"])
    assert all(call["options"] == {"allowDiskUse": True} for call in shim["calls"])
