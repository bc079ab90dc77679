"""The real server (gunicorn.conf.py) over real sockets on loopback: slow clients, deadlines,
gunicorn's own refusals as problem+json and JSON log lines, and chunked bodies."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADER_TIMEOUT_S = 3
BODY_TIMEOUT_S = 2
TOKEN = "edge-operator-token"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn as `make run` starts it, on a free loopback port: (port, log file)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("edge") / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "SECRET_KEY")}
    env.update(HOST="127.0.0.1", PORT=str(port), OPERATOR_TOKEN=TOKEN, SECRET_KEY="edge-secret",
               HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S), BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
               PASSWORD_HASH_METHOD="scrypt:1024:8:1")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with log.open("w") as out:
        process = subprocess.Popen([str(gunicorn), "--config", "gunicorn.conf.py", "app:create_app()"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _health_ok(port):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield port, log
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _health_ok(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _health_seconds(port):
    began = time.monotonic()
    assert _health_ok(port)
    return time.monotonic() - began


def _exchange(port, raw, timeout_s=5):
    """Send raw bytes, read until the server closes: (status, headers text, body bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as conn:
        conn.sendall(raw)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and _complete(data):
                break
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin-1").lower(), body


def _complete(data):
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.decode("latin-1").lower().split("\r\n"):
        if line.startswith("content-length:"):
            return len(body) >= int(line.split(":")[1])
    return False


def _problem(port, raw):
    status, headers, body = _exchange(port, raw)
    assert "content-type: application/problem+json" in headers, headers
    problem = json.loads(body)
    assert problem["status"] == status
    return status, problem["code"]


def test_fifty_slow_clients_leave_health_answering_and_are_cut_off(server):
    port, _ = server
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
    try:
        request = b"POST /clients HTTP/1.1\r\nHost: x\r\n"
        for second in range(HEADER_TIMEOUT_S - 1):  # 1 byte per second from each of the 50
            for conn in slow:
                conn.send(request[second:second + 1])
            assert _health_seconds(port) < 1
            time.sleep(1)
        time.sleep(2)  # past the head's deadline: the server has hung up on all of them
        for conn in slow:
            conn.settimeout(2)
            assert conn.recv(1024) == b""  # closed, not answered: nginx's way with a stalled head
    finally:
        for conn in slow:
            conn.close()
    assert _health_seconds(port) < 1


def test_a_body_that_does_not_arrive_in_time_is_408(server):
    port, log = server
    began = time.monotonic()
    head = (b"POST /clients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{\"email\":")
    assert _problem(port, head) == (408, "request_timeout")
    assert BODY_TIMEOUT_S - 0.5 < time.monotonic() - began < BODY_TIMEOUT_S + 2


@pytest.mark.parametrize("raw, status, code", [
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(101)) + b"\r\n",
     431, "header_fields_too_large"),
    (b"POST /clients HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "malformed_request"),
    (b"POST /clients HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
     400, "malformed_request"),
    (b"POST /clients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
     b"\r\nzz\r\n", 400, "malformed_request"),
])
def test_gunicorn_refusals_are_problem_json_and_logged_as_json_lines(server, raw, status, code):
    port, log = server
    assert _problem(port, raw) == (status, code)
    time.sleep(0.1)  # the log line is written after the response
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line["message"] == "refused at the edge" and line["code"] == code for line in lines)


def _chunked(body, size=4096):
    chunks = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def test_a_chunked_body_over_the_limit_is_413_through_gunicorn(server):
    port, _ = server
    valid = json.dumps({"email": "chunk@example.com", "name": "Chunk", "password": "password123"}).encode()
    head = (b"POST /clients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    assert _problem(port, head + _chunked(valid + b" " * 70_000)) == (413, "payload_too_large")
    status, _, body = _exchange(port, head + _chunked(valid))
    assert status == 201, body


def test_password_hashing_runs_beside_the_loop(monkeypatch):
    """A sign-up's scrypt (50-100 ms on purpose) must not stop every other request on the worker."""
    import hashlib

    import gevent

    from app.web import edge
    monkeypatch.setattr(hashlib, "scrypt", hashlib.scrypt)  # restored after the test
    expected = hashlib.scrypt(b"pw", salt=b"salt", n=2**15, r=8, p=1, maxmem=2**26)
    edge.hash_off_the_loop()
    ticks = []

    def tick():
        while True:
            ticks.append(time.monotonic())
            gevent.sleep(0.005)

    ticker = gevent.spawn(tick)
    gevent.sleep(0)
    began = time.monotonic()
    assert hashlib.scrypt(b"pw", salt=b"salt", n=2**15, r=8, p=1, maxmem=2**26) == expected
    took = time.monotonic() - began
    ticker.kill()
    during = [t for t in ticks if began < t < began + took]
    assert len(during) >= 3, (len(during), took)  # on the loop, not one tick would have happened


def test_the_worker_freezes_what_it_loaded_and_collects_young_objects_less_often(monkeypatch):
    import gc
    import runpy
    monkeypatch.setenv("OPERATOR_TOKEN", TOKEN)  # else the config would make one
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    before = gc.get_threshold()
    try:
        config["post_worker_init"](None)
        assert gc.get_threshold() == config["GC_THRESHOLDS"] and config["GC_THRESHOLDS"][0] > before[0]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
