"""`make test`'s suite in two halves at once, each with stand-ins of its own (wire_standin):
the tests marked ``mongo`` (the wire-protocol half: most of its time is spent waiting on its
stand-in, a process of its own) and all the others. On two cores this takes about the time
of the longer half instead of the sum.

    python -m tests.support.two_halves [PYTEST_ARGS...]

The mongo half prints as it runs; the other's output follows when both are done. The exit
status is the first non-zero of the two (0 when both pass). TEST_HALVES=0 runs the whole
suite in one process instead, as before.
"""
import os
import sys
import tempfile
import threading

from tests.support.wire_standin import ROOT, run_with_standin

HALVES = {"mongo": "mongo and not standin", "others": "not mongo and not standin"}


def pytest_command(marks, args):
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marks, *args]


def run(args):
    if os.environ.get("TEST_HALVES") == "0":
        return run_with_standin(pytest_command("not standin", args))
    results = {"others": 1}  # until it has run: a stand-in that cannot start fails the run
    with tempfile.TemporaryFile(mode="w+") as others_log:
        def others():
            try:
                results["others"] = run_with_standin(pytest_command(HALVES["others"], args),
                                                     stdout=others_log)
            except Exception as exc:  # printed with the half's output, after the mongo half
                others_log.write(f"the half could not run: {exc}\n")

        thread = threading.Thread(target=others)
        thread.start()
        print(f"== {HALVES['mongo']!r}: the tests on the wire stand-in", flush=True)
        results["mongo"] = run_with_standin(pytest_command(HALVES["mongo"], args))
        thread.join()
        others_log.seek(0)
        print(f"\n== {HALVES['others']!r}: the rest (run at the same time)", flush=True)
        sys.stdout.write(others_log.read())
    for name, status in results.items():
        print(f"{name} half: {'passed' if status == 0 else f'FAILED (exit status {status})'}")
    return next((status for status in results.values() if status != 0), 0)


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(run(sys.argv[1:]))
