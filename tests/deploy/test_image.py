"""The Dockerfile, read as data, and its start command and health check run here.

There is no Docker engine on our machines, so the image is never built in CI;
the CMD and HEALTHCHECK commands are run as written, against a gunicorn in this
process's environment, which is as close as we can get.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def stages():
    """{stage name: [(INSTRUCTION, arguments)]}, in file order (the last is the default target)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            current = found.setdefault(arguments.split()[-1], [])
        current.append((instruction.upper(), " ".join(arguments.split())))
    return found


def instruction(stage, name):
    """The last ``name`` instruction's arguments in a stage."""
    return [arguments for found, arguments in stage if found == name][-1]


def exec_form(arguments):
    return json.loads(arguments[arguments.index("CMD ") + 4:] if "CMD " in arguments else arguments)


def test_slim_python_with_dependencies_in_their_own_layer():
    base = stages()["base"]
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)? AS base", base[0][1]), base[0][1]
    steps = [f"{name} {arguments}" for name, arguments in base]
    copy_requirements = steps.index("COPY requirements.txt ./")
    install = next(i for i, step in enumerate(steps) if "pip install -r /tmp/runtime.txt" in step)
    copy_code = steps.index("COPY app ./app")
    assert copy_requirements < install < copy_code


def test_runtime_installs_no_test_tools_and_the_test_stage_does():
    runtime_part = [line.split("==")[0] for line in open(ROOT / "requirements.txt").read()
                    .split("# Tests and lint")[0].splitlines() if "==" in line]
    assert "Flask" in runtime_part and "gunicorn" in runtime_part
    assert not {"pytest", "flake8", "PyYAML"} & set(runtime_part)
    test_steps = [f"{name} {arguments}" for name, arguments in stages()["test"]]
    assert "RUN pip install -r requirements.txt" in test_steps


def test_runtime_is_the_default_target_and_runs_as_a_non_root_user():
    named = stages()
    assert list(named)[-1] == "runtime"
    for stage in ("runtime", "test"):
        assert instruction(named[stage], "USER") not in ("root", "0")
    runtime = named["runtime"]
    assert instruction(runtime, "EXPOSE") == "8080"
    assert "/health" in instruction(runtime, "HEALTHCHECK")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_health(url, process, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited during start-up"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.load(response)
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout_s} s")


@pytest.fixture
def container_env():
    """The image's environment, minus MongoDB: the embedded engine, asking for 3 workers."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MONGO_URI", "SECRET_KEY", "OPERATOR_TOKEN")}
    # This interpreter's scripts (gunicorn) first on PATH, as /usr/local/bin is in the image.
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               HOST="127.0.0.1", PORT=str(free_port()), WORKERS="3", THREADS="2")
    return env


def test_start_command_serves_health_with_one_worker_and_the_health_check_sees_it(
        container_env, tmp_path):
    runtime = stages()["runtime"]
    command, health_check = exec_form(instruction(runtime, "CMD")), exec_form(
        instruction(runtime, "HEALTHCHECK"))
    log = tmp_path / "gunicorn.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(command, cwd=ROOT, env=container_env, stdout=log_file,
                                  stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{container_env['PORT']}/health"
        assert wait_for_health(url, server) == {"status": "ok", "engine": "embedded"}
        time.sleep(1)  # give extra workers, if the command wrongly started them, time to boot
        # `exec`: the shell was replaced by gunicorn, which gets docker's SIGTERM itself.
        assert Path(f"/proc/{server.pid}/comm").read_text().strip() == "gunicorn"
        assert log.read_text().count("Booting worker with pid") == 1, log.read_text()
        check = subprocess.run(health_check, env=container_env, capture_output=True, timeout=30)
        assert check.returncode == 0, check.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0, log.read_text()
    check = subprocess.run(health_check, env=container_env, capture_output=True, timeout=30)
    assert check.returncode != 0, "the health check must fail when nothing answers"
