"""The wire stand-in (scripts/standin) as a subprocess for tests; needs no mongoeco here.

`start()` builds .venv-standin if needed (`make standin-venv`), starts the stand-in on a free
port and returns it once it has printed its URI. Only a missing Python >= 3.13 is a reason
to skip (`start_or_skip`); anything else that keeps it from starting is an error that
carries the stand-in's stderr. STANDIN_PLAIN=1 starts it with --plain (mongoeco unadapted).
"""
import os
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-standin" / "bin" / "python"
PLAIN = os.environ.get("STANDIN_PLAIN") == "1"
START_TIMEOUT_S = 60


class StandIn:
    """A running stand-in: its URI, and stop()."""

    def __init__(self, process, uri, stderr):
        self.process, self.uri, self._stderr = process, uri, stderr

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._stderr.close()


def python_missing():
    """Why no Python >= 3.13 can be found (scripts/standin/find-python's words), or None."""
    found = subprocess.run([ROOT / "scripts" / "standin" / "find-python"],
                           capture_output=True, text=True)
    return None if found.returncode == 0 else found.stderr.strip()


def start(plain=PLAIN, standalone=False, timeout_s=START_TIMEOUT_S):
    """A stand-in listening on a free port (a standalone mongod's if ``standalone``, else rs0's
    primary); RuntimeError, with its stderr, if it does not."""
    built = subprocess.run(["make", "-s", "standin-venv"], cwd=ROOT, capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError(f"make standin-venv failed:\n{built.stdout}{built.stderr}")
    stderr = tempfile.TemporaryFile(mode="w+")
    command = [PYTHON, "-m", "scripts.standin", "--port", "0"] + (["--plain"] if plain else []) + (
        ["--standalone"] if standalone else [])
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
    uri = first_line(process, timeout_s)
    if not uri.startswith("mongodb://"):
        process.kill()
        process.wait()
        stderr.seek(0)
        raise RuntimeError(f"the wire stand-in did not start: no URI within {timeout_s} s (first line "
                           f"{uri!r}, exit status {process.returncode}; -9 is our kill after the wait); "
                           f"its stderr:\n{stderr.read()}")
    return StandIn(process, uri, stderr)


def first_line(process, timeout_s):
    """The first line on the process's stdout, or '' if none comes in time."""
    lines = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return lines[0].strip() if lines else ""


def start_or_skip(plain=PLAIN, standalone=False):
    """start(), or a skip that says why when no Python >= 3.13 is on this machine."""
    missing = python_missing()
    if missing:
        pytest.skip(f"wire stand-in: {missing}")
    return start(plain, standalone)


def run_with_standin(command, stdout=None, environment=None):
    """Run ``command`` with MONGO_URI naming a fresh stand-in, MONGO_STANDALONE_URI a standalone
    one (for the refusal of a standalone server), and MONGO_STANDIN=1 (so tests that need a
    real replica set can say so); its exit status, after stopping both. ``stdout``: a file for
    its output and errors (else this process's); ``environment``: more variables for it."""
    standin = start()
    try:
        standalone = start(standalone=True)
        try:
            env = dict(os.environ, MONGO_URI=standin.uri, MONGO_STANDALONE_URI=standalone.uri,
                       MONGO_STANDIN="1", **(environment or {}))
            return subprocess.run(command, cwd=ROOT, env=env, stdout=stdout,
                                  stderr=None if stdout is None else subprocess.STDOUT).returncode
        finally:
            standalone.stop()
    finally:
        standin.stop()


if __name__ == "__main__":
    # python -m tests.support.wire_standin COMMAND...: `make test` runs the suite this way.
    import sys
    sys.exit(run_with_standin(sys.argv[1:]))
