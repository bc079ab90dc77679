"""`make run-replica`: the services of docker-compose.yml as processes here, on the wire stand-in.

The plan is checked against the compose file as data; then `make run-replica` runs for real and
is driven over HTTP (deposit, transfer, a hold the sweeper expires, a webhook, a sandbox
withdrawal the dispatcher settles), audited, and stopped with Ctrl-C's SIGINT.
"""
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from scripts.run_replica import BIN, interpolate, plan, read_deployment, settle_secrets
from tests.support.receivers import WebhookReceiver
from tests.support.wire_standin import ROOT, python_missing

STANDIN_URI = "mongodb://127.0.0.1:27999/?replicaSet=rs0"
# Short intervals, the sandbox as payer, webhooks to loopback over http: all through the
# environment, which every process inherits.
FAST = {"SWEEP_INTERVAL_S": "0.2", "DISPATCH_INTERVAL_S": "0.1", "SANDBOX_SETTLE_S": "1",
        "WITHDRAWAL_PROVIDER": "sandbox", "WEBHOOK_ALLOW_PRIVATE": "1", "WEBHOOK_ALLOWED_PORTS": "1-65535"}
START_S, FLOW_S, STOP_S = 60, 30, 45


def planned(environ):
    compose, dockerfile = read_deployment()
    return {service.name: service for service in plan(compose, dockerfile, environ, STANDIN_URI,
                                                      "127.0.0.1", 8181)}


def test_the_plan_is_the_compose_services_with_their_commands_and_environment():
    compose, dockerfile = read_deployment()
    services = compose["services"]
    environ = {"SECRET_KEY": "s", "OPERATOR_TOKEN": "chosen"}
    ran = planned(environ)
    assert list(ran)[0] == "init" and set(ran) == {"init", "api", "sweeper", "dispatcher"}
    image_cmd = ["gunicorn", "--config", "gunicorn.conf.py", "--worker-tmp-dir", "/dev/shm",
                 "app:create_app()"]
    assert "CMD " + json.dumps(image_cmd) in dockerfile
    for name, service in ran.items():
        command = services[name].get("command", image_cmd)
        assert service.argv == [str(BIN / command[0])] + command[1:], name
        assert set(service.environment) == set(services[name]["environment"]), name
        assert service.environment["MONGO_URI"] == STANDIN_URI
        assert service.environment["OPERATOR_TOKEN"] == "chosen" and service.environment["SECRET_KEY"] == "s"
    assert ran["api"].environment["HOST"] == "127.0.0.1" and ran["api"].environment["PORT"] == "8181"
    assert ran["api"].environment["WORKERS"] == "2" and ran["api"].grace_s == 30
    assert ran["init"].one_shot and not ran["api"].one_shot
    assert planned(dict(environ, WORKERS="3"))["api"].environment["WORKERS"] == "3"


def test_secrets_are_generated_once_and_only_the_token_is_shown():
    said = []
    environ = settle_secrets({}, said.append)
    assert environ["SECRET_KEY"] and environ["OPERATOR_TOKEN"]
    assert said == [f"OPERATOR_TOKEN was unset; generated for this run: {environ['OPERATOR_TOKEN']}"]
    assert settle_secrets({"SECRET_KEY": "s", "OPERATOR_TOKEN": "t"}, said.append)["OPERATOR_TOKEN"] == "t"
    assert len(said) == 1


@pytest.mark.parametrize("text, expected", [
    ("${X:-d}", "d"), ("${X-d}", ""), ("${Y:-d}", "y"), ("${Z}", ""), ("a$$b", "a$b"), ("plain", "plain")])
def test_compose_interpolation(text, expected):
    assert interpolate(text, {"X": "", "Y": "y"}) == expected


@pytest.mark.parametrize("text", ["$X", "${X:?required}", "${X:+alt}"])
def test_interpolation_it_cannot_read_is_refused(text):
    with pytest.raises(ValueError):
        interpolate(text, {})


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_tree(root_pid):
    """{pid: command line} of every live process below ``root_pid`` (Linux /proc)."""
    children = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat:
            children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    found, todo = {}, [root_pid]
    while todo:
        for pid in children[todo.pop()]:
            try:
                found[pid] = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            todo.append(pid)
    return found


def alive(pid):
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Replica:
    """`make run-replica` started as a terminal would (its own process group); its output kept."""

    def __init__(self, port):
        unset = ("OPERATOR_TOKEN", "SECRET_KEY", "STANDIN_PORT", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")
        env = {k: v for k, v in os.environ.items() if k not in unset}
        env.update(FAST, HOST="127.0.0.1", PORT=str(port))
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(["make", "-s", "run-replica"], cwd=ROOT, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.lines = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()

    def output(self):
        return "".join(self.lines)

    def operator_token(self):
        marker = "OPERATOR_TOKEN was unset; generated for this run: "
        found = [line.split(marker, 1)[1].strip() for line in self.lines if marker in line]
        return found[0] if len(found) == 1 else None

    def interrupt(self, timeout_s=STOP_S):
        """Ctrl-C: SIGINT to the terminal's process group; make's exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout_s)


def eventually(what, check, timeout_s, replica):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout_s} s; make run-replica said:\n{replica.output()}")


@pytest.fixture
def replica():
    missing = python_missing()
    if missing:
        pytest.skip(f"wire stand-in: {missing}")
    started = Replica(free_port())
    yield started
    if started.process.poll() is None:  # the test failed before stopping it
        os.killpg(started.process.pid, signal.SIGINT)
        try:
            started.process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(started.process.pid, signal.SIGKILL)  # the services die with the supervisor
            started.process.wait()


def ready(replica, http):
    if replica.process.poll() is not None:
        raise AssertionError(f"make run-replica exited ({replica.process.returncode}):\n{replica.output()}")
    try:
        return http.get("/health").status_code == 200
    except httpx.TransportError:
        return False


# Each service's processes, by their command lines: gunicorn is its master and WORKERS=2 workers;
# init has finished.
EXPECTED = {"scripts.standin": 1, "gunicorn --config gunicorn.conf.py": 3, "scripts.run_replica": 1,
            "flask --app app events dispatch": 1, "flask --app app ledger sweep": 1,
            "flask --app app db init": 0}


def every_service_running(replica):
    """The process tree below make once it holds exactly the expected processes, else None."""
    tree = process_tree(replica.process.pid)
    counts = {mark: sum(mark in command for command in tree.values()) for mark in EXPECTED}
    return tree if counts == EXPECTED else None


def member(http, name):
    """A signed-up client: (auth headers, wallet id)."""
    email = f"{name}-{os.urandom(3).hex()}@example.com"
    body = http.post("/clients", json={"email": email, "name": name, "password": "password123"})
    assert body.status_code == 201, body.text
    token = http.post("/auth/token", json={"email": email, "password": "password123"})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}, body.json()["wallet"]["id"]


def created(response):
    assert response.status_code == 201, response.text
    return response.json()


def test_make_run_replica_runs_the_deployment_keeps_the_books_and_stops_on_ctrl_c(replica):
    http = httpx.Client(base_url=replica.url, timeout=10)
    eventually("the API answers /health", lambda: ready(replica, http), START_S, replica)
    operator = {"Authorization": f"Bearer {replica.operator_token()}"}
    assert http.get("/health").json() == {"status": "ok", "engine": "mongodb"}
    tree = eventually("every service in its processes", lambda: every_service_running(replica), 10, replica)

    receiver = WebhookReceiver()
    try:
        endpoint = created(http.post("/webhook-endpoints", json={"url": receiver.url, "events": ["*"]},
                                     headers=operator))
        receiver.secret = endpoint["secret"]
        (ada, ada_wallet), (bob, bob_wallet) = member(http, "ada"), member(http, "bob")
        created(http.post(f"/wallets/{ada_wallet}/deposits", json={"amount": "100.00"}, headers=operator))
        created(http.post("/transfers", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                              "amount": "30.00"}, headers=ada))
        hold = created(http.post("/holds", json={"from_wallet_id": ada_wallet, "to_wallet_id": bob_wallet,
                                                 "amount": "20.00", "expires_in_s": 1}, headers=ada))
        withdrawal = created(http.post("/withdrawals", headers=bob, json={
            "wallet_id": bob_wallet, "amount": "10.00",
            "destination": {"type": "bank_account", "account": "DE89370400440532013000"}}))
        # hold.expired is emitted when the expiry is written down (by the sweeper: nothing
        # debits ada's wallet after the hold). The dispatcher process settles the sandbox
        # withdrawal and delivers every event to the receiver, signed.
        wanted = {"deposit.posted", "transfer.posted", "hold.created", "hold.expired",
                  "withdrawal.created", "withdrawal.processing", "withdrawal.succeeded"}
        delivered = (lambda seen: wanted <= {payload["type"] for _, payload, _ in seen if payload})
        eventually("every event delivered", lambda: receiver.wait_for(delivered, 0.1), FLOW_S, replica)
        assert all(payload is not None and status == 200 for _, payload, status in receiver.requests)
    finally:
        receiver.close()
    assert http.get(f"/holds/{hold['id']}", headers=ada).json()["status"] == "expired"
    swept = [line for line in replica.lines if line.startswith("sweeper ") and '"holds_expired": 1' in line]
    assert swept, replica.output()  # the sweeper process's log line: it wrote the expiry down
    assert http.get(f"/withdrawals/{withdrawal['id']}", headers=bob).json()["status"] == "succeeded"
    shown = {w: http.get(f"/wallets/{w}", headers=operator).json() for w in (ada_wallet, bob_wallet)}
    assert [(s["balance"], s["held"]) for s in shown.values()] == [("70.00", "0.00"), ("20.00", "0.00")]
    audit = http.get("/audit", headers=operator).json()
    assert audit["ok"] and audit["violation_count"] == 0, audit
    assert (audit["total_deposited"], audit["total_held"], audit["system_accounts"]["payouts"]) == (
        "100.00", "90.00", "10.00")
    http.close()

    status = replica.interrupt()
    assert status == -signal.SIGINT  # make, interrupted as by Ctrl-C, after its recipe ended
    replica.reader.join(5)
    assert not [pid for pid in tree if alive(pid)], replica.output()
    said = [line for line in replica.lines if line.startswith("run-replica |")]
    assert said[-1].strip() == "run-replica | all stopped", replica.output()
    assert replica.output().count("generated for this run") == 1


def supervise(**env):
    """Run the supervisor (no make) to its end: its exit status, its output, the pids it started."""
    unset = ("OPERATOR_TOKEN", "SECRET_KEY", "STANDIN_PORT")
    environ = dict({k: v for k, v in os.environ.items() if k not in unset}, **env)
    done = subprocess.run([sys.executable, "-m", "scripts.run_replica"], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=START_S + STOP_S, start_new_session=True)
    pids = [int(pid) for pid in re.findall(r"^run-replica \| started \S+ \(pid (\d+)\)", done.stdout, re.M)]
    return done.returncode, done.stdout, pids


@pytest.fixture
def standin_python():
    missing = python_missing()
    if missing:
        pytest.skip(f"wire stand-in: {missing}")


def test_a_failed_init_starts_nothing_else_and_stops_the_stand_in(standin_python):
    status, output, pids = supervise(MONGO_DB="bad name", PORT=str(free_port()))
    assert status == 1, output
    assert "run-replica | init failed (exit status 1): nothing else is started" in output
    assert len(pids) == 2 and not [pid for pid in pids if alive(pid)], output  # the stand-in and init
    assert output.rstrip().endswith("run-replica | all stopped")


def test_a_service_that_exits_by_itself_ends_the_run(standin_python):
    with socket.socket() as taken:  # the API cannot bind: gunicorn gives up and exits
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        status, output, pids = supervise(PORT=str(taken.getsockname()[1]))
    assert status == 1, output
    exited = r"^run-replica \| api exited by itself \(status \d+\): stopping the others$"
    assert re.search(exited, output, re.M), output
    assert len(pids) == 5 and not [pid for pid in pids if alive(pid)], output
    assert output.rstrip().endswith("run-replica | all stopped")
