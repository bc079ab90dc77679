"""What the fuzz tests ran: cases per identity and operation, and the statuses they got."""
import collections

CASES = collections.Counter()     # (identity, operation) -> cases
STATUSES = collections.Counter()  # (identity, operation, status) -> cases
# Stateful transfers sent by a client that signed up and logged in earlier in the same scenario.
CHAINS = collections.Counter()    # outcome ("completed" or the refusal's code) -> count


def record(identity, operation, status):
    CASES[identity, operation] += 1
    STATUSES[identity, operation, status] += 1


def summary_lines(failed):
    """The summary `make fuzz` prints: cases per operation, statuses seen, failures."""
    lines = [f"fuzz: {sum(CASES.values())} cases over {len(CASES)} (identity, operation) pairs, "
             f"{len(failed)} failed test(s)"]
    for (identity, operation), count in sorted(CASES.items()):
        statuses = " ".join(f"{status}x{n}" for (i, o, status), n in sorted(STATUSES.items())
                            if (i, o) == (identity, operation))
        lines.append(f"  {identity:8} {operation:38} {count:6} cases  {statuses}")
    if CHAINS:
        outcomes = ", ".join(f"{outcome} {n}" for outcome, n in sorted(CHAINS.items()))
        lines.append(f"  stateful transfers by a client signed up and logged in in that scenario: {outcomes}")
    lines.extend(f"  FAILED {nodeid}" for nodeid in failed)
    return lines
