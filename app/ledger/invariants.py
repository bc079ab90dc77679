"""The ledger's own invariants: refusals that stay on under ``python -O``.

A ``LedgerInvariantError`` is never the client's mistake: the edge (schemas, app/money.py)
refuses bad input with a 4xx long before. Raised inside a unit of work it aborts the unit,
so nothing is written, and it reaches the client as the bare 500 of any unexpected failure
(app/web/problems.py), logged with its ``rule``. Each subclass names one rule, as medici
refuses an unbalanced journal with one error class per rule.
"""


class LedgerInvariantError(Exception):
    """A rule of the ledger broken by the code that called it."""

    rule = "ledger_invariant"

    def __init__(self, detail):
        super().__init__(f"{self.rule}: {detail}")
        self.detail = detail


class UnbalancedPostings(LedgerInvariantError):
    """Postings that do not sum to zero, fewer than two, a zero or fractional amount, an account twice."""

    rule = "postings_must_balance"


class UnknownEntryType(LedgerInvariantError):
    """A journal entry type that is not in app/ledger/entry_types.py."""

    rule = "entry_type_unknown"


class EntrySignMismatch(LedgerInvariantError):
    """A credit type with a negative amount, a debit type with a positive one, or zero."""

    rule = "entry_sign_mismatch"


class UnknownEventType(LedgerInvariantError):
    """An event type that is not in the table of app/ledger/events.py."""

    rule = "event_type_unknown"


class UnknownSystemAccount(LedgerInvariantError):
    """A system account name outside accounts.SYSTEM_ACCOUNTS."""

    rule = "system_account_unknown"


class SystemAccountMissing(LedgerInvariantError):
    """A system account shard that is not in the database (`flask --app app db init` makes them)."""

    rule = "system_account_missing"


class HeldUnderflow(LedgerInvariantError):
    """Releasing more held money than a wallet holds."""

    rule = "held_underflow"


class PendingCountLost(LedgerInvariantError):
    """A payment request whose pair has no pending slot to give back."""

    rule = "pending_count_lost"


class ArgumentOutOfRange(LedgerInvariantError):
    """A ledger function called with a value its edge should have refused (an amount, a mode)."""

    rule = "argument_out_of_range"


class PeriodOutOfOrder(LedgerInvariantError):
    """A statement whose opening cut lies after its closing cut."""

    rule = "period_out_of_order"


class UnknownAuditRule(LedgerInvariantError):
    """An audit finding under a name that is not in app/audit/rules.py RULES."""

    rule = "audit_rule_unknown"


def require(condition, error_class, detail):
    """Raise ``error_class(detail)`` unless ``condition``: an ``assert`` that -O keeps."""
    if not condition:
        raise error_class(detail)


def amount_in_range(amount_cents, most_cents):
    """An amount of whole cents, above zero and at most ``most_cents``."""
    require(0 < amount_cents <= most_cents, ArgumentOutOfRange,
            f"an amount of {amount_cents!r} cents is not from 1 to {most_cents}")
