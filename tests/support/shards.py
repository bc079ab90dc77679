"""`make test`'s suite in TEST_SHARDS processes at once (default 2), each with stand-ins of its
own (wire_standin): shard i runs every n-th test from the i-th, in collection order, so each
gets its share of the tests on the wire stand-in (which mostly wait on their stand-in, a
process of its own) and of the rest (which keep a core busy). On two cores this takes about
half the time of one process.

    python -m tests.support.shards [PYTEST_ARGS...]

Shard 0 prints as it runs; the others' output follows when all are done. The exit status is
the first non-zero one (0 when every shard passes). TEST_SHARDS=1 runs one process.
"""
import os
import sys
import tempfile
import threading

from tests.support.wire_standin import ROOT, run_with_standin

SHARD_VARIABLE = "TEST_SHARD"  # "i/n", read by tests/conftest.py


def shard_of(items, shard):
    """(kept, dropped): the items of shard "i/n", every n-th from the i-th."""
    index, count = (int(part) for part in shard.split("/"))
    if not 0 <= index < count:
        raise ValueError(f"{SHARD_VARIABLE}={shard!r}: expected i/n with 0 <= i < n")
    kept = [item for position, item in enumerate(items) if position % count == index]
    dropped = [item for position, item in enumerate(items) if position % count != index]
    return kept, dropped


def run(args, count):
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not standin", *args]
    if count == 1:
        return run_with_standin(command)
    results = dict.fromkeys(range(count), 1)  # until it has run: a stand-in that cannot start fails
    logs = {index: tempfile.TemporaryFile(mode="w+") for index in range(1, count)}

    def shard(index):
        environment = {SHARD_VARIABLE: f"{index}/{count}"}
        try:
            results[index] = run_with_standin(command, stdout=logs.get(index), environment=environment)
        except Exception as exc:
            (logs.get(index) or sys.stdout).write(f"shard {index}/{count} could not run: {exc}\n")

    threads = [threading.Thread(target=shard, args=(index,)) for index in range(1, count)]
    for thread in threads:
        thread.start()
    print(f"== shard 0/{count} (the other shards' output follows it)", flush=True)
    shard(0)
    for thread in threads:
        thread.join()
    for index, log in logs.items():
        log.seek(0)
        print(f"\n== shard {index}/{count} (run at the same time)", flush=True)
        sys.stdout.write(log.read())
        log.close()
    for index, status in results.items():
        print(f"shard {index}/{count}: {'passed' if status == 0 else f'FAILED (exit status {status})'}")
    return next((status for status in results.values() if status != 0), 0)


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(run(sys.argv[1:], int(os.environ.get("TEST_SHARDS", "2"))))
