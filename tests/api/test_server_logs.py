"""The real server's stderr is JSON lines from start-up to the end of shutdown (issue 29, finding 8)."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.api.test_edge import ROOT, _free_port, _health_ok


def serve_then_stop(tmp_path, stop_signal, env_changes):
    """Start gunicorn as `make run` does, serve a few requests, send ``stop_signal``: stderr's lines."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "OPERATOR_TOKEN", "SECRET_KEY")}
    env.update(HOST="127.0.0.1", PORT=str(port), SWEEPER_THREAD="1", EVENTS_DISPATCHER_THREAD="1",
               PASSWORD_HASH_METHOD="scrypt:1024:8:1", **env_changes)
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as err:
        process = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--config",
                                    "gunicorn.conf.py", "app:create_app()"],
                                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 30
        while not _health_ok(port):
            assert process.poll() is None and time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=5) as response:
            assert response.status == 200
    finally:
        process.send_signal(stop_signal)
        assert process.wait(timeout=30) == 0
    return stderr.read_text().splitlines()


@pytest.mark.parametrize("stop_signal, env_changes", [
    (signal.SIGTERM, {"OPERATOR_TOKEN": "logs-operator-token"}),
    (signal.SIGINT, {}),  # and the operator token generated at start, announced as a JSON line
])
def test_every_stderr_line_is_json_through_shutdown(tmp_path, stop_signal, env_changes):
    lines = serve_then_stop(tmp_path, stop_signal, env_changes)
    not_json = []
    for line in lines:
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not {"time", "level", "logger", "message"} <= set(parsed):
            not_json.append(line)
    assert not not_json, "\n".join(not_json)
    messages = [json.loads(line)["message"] for line in lines]
    assert any(message.startswith("wallet API on") for message in messages)
    assert messages[-1] == "Shutting down: Master"  # the lines run to the very end
