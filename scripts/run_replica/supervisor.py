"""Processes in their own process groups, their output prefixed with their names, stopped in order."""
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

from scripts.run_replica import ROOT, STANDIN_SERVICE

STANDIN_PYTHON = ROOT / ".venv-standin" / "bin" / "python"
STANDIN_START_S = 60
STANDIN_GRACE_S = 10
ME = "run-replica"
PR_SET_PDEATHSIG = 1


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
    except OSError:
        return None


LIBC = _libc()


def die_with_parent():
    """SIGTERM to this process when its parent dies, even by SIGKILL (Linux): none is orphaned.

    Each child calls it (the supervisor's death stops the services), and so does the supervisor
    (make killed alone, whose SIGTERM never reaches its recipe, stops the supervisor).
    """
    if LIBC is not None:
        LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Running:
    """A started process, the thread forwarding its output, and how long it may take to stop."""

    def __init__(self, name, process, pump, grace_s):
        self.name, self.process, self.pump, self.grace_s = name, process, pump, grace_s


class Supervisor:
    """Starts processes, prefixes their output, stops them all: the services, then the stand-in."""

    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()
        self.running = []  # in start order
        self.stop_requested = threading.Event()
        self.signals = 0

    def say(self, name, line):
        with self.lock:
            self.out.write(f"{name:<{len(ME)}} | {line}\n")
            self.out.flush()

    def on_signal(self, signum, frame):
        self.signals += 1
        self.say(ME, f"{signal.Signals(signum).name}: " + (
            "stopping everything" if self.signals == 1 else "again: killing everything now"))
        self.stop_requested.set()

    def spawn(self, name, argv, env, grace_s, on_line=None):
        # Their own process group: a Ctrl-C reaches only make and this supervisor, which then
        # stops the services before the stand-in instead of all of them at once.
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   errors="replace", start_new_session=True, preexec_fn=die_with_parent)
        pump = threading.Thread(target=self._pump, args=(name, process, on_line), daemon=True)
        pump.start()
        self.running.append(Running(name, process, pump, grace_s))
        self.say(ME, f"started {name} (pid {process.pid}): {' '.join(map(str, argv))}")
        return process

    def _pump(self, name, process, on_line):
        for line in process.stdout:
            line = line.rstrip("\n")
            if on_line is not None:
                on_line(line)
            self.say(name, line)

    def start_standin(self, port):
        """The stand-in's URI once it listens; None if it exits, is stopped or stays silent."""
        uri, listening = [], threading.Event()

        def on_line(line):
            if not uri and line.startswith("mongodb://"):
                uri.append(line.strip())
                listening.set()

        argv = [str(STANDIN_PYTHON), "-m", "scripts.standin", "--port", str(port)]
        process = self.spawn(STANDIN_SERVICE, argv, dict(os.environ), STANDIN_GRACE_S, on_line)
        deadline = time.monotonic() + STANDIN_START_S
        while not listening.wait(0.1):
            if process.poll() is not None or self.stop_requested.is_set() or time.monotonic() > deadline:
                self.say(ME, f"the stand-in did not start (exit status {process.poll()})")
                return None
        return uri[0]

    def run_once(self, name, argv, env, grace_s):
        """Run a one-shot process to its end; its exit status (None if a stop came first)."""
        process = self.spawn(name, argv, env, grace_s)
        while process.poll() is None:
            if self.stop_requested.wait(0.1):
                return None
        self._forget(process)
        return process.returncode

    def _forget(self, process):
        done = next(running for running in self.running if running.process is process)
        self.running.remove(done)
        done.pump.join(5)

    def wait(self):
        """Until a stop is requested (None) or a process exits by itself (its Running)."""
        while not self.stop_requested.wait(0.2):
            for running in self.running:
                if running.process.poll() is not None:
                    return running
        return None

    def stop_all(self):
        """Stop the services together, then the stand-in; True if each stopped in time, cleanly."""
        services = [r for r in self.running if r.name != STANDIN_SERVICE]
        standin = [r for r in self.running if r.name == STANDIN_SERVICE]
        return all([self._stop(services), self._stop(standin)])

    def _stop(self, group):
        stopping = [running for running in group if running.process.poll() is None]
        for running in stopping:
            running.process.send_signal(signal.SIGTERM)  # as `docker stop`: the main process only
        return all([self._reap(running, running in stopping) for running in group])

    def _reap(self, running, stopping):
        """Wait for a process told to stop (or already ended: wait() reported its status)."""
        process, clean = running.process, True
        deadline = time.monotonic() + running.grace_s
        while process.poll() is None and time.monotonic() < deadline and self.signals < 2:
            time.sleep(0.05)
        if process.poll() is None:
            self.say(ME, f"{running.name} did not stop in time: killed")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            clean = False
        try:  # anything left in its group (gunicorn workers whose master was killed, say)
            os.killpg(process.pid, signal.SIGKILL)
            self.say(ME, f"{running.name}: killed processes it left behind")
            clean = False
        except ProcessLookupError:
            pass
        running.pump.join(5)
        if stopping and process.returncode not in (0, -signal.SIGTERM):
            self.say(ME, f"{running.name} ended with status {process.returncode}")
            clean = False
        return clean
