"""The audit: prove the books are whole, reading everything once, in batches (no Flask).

Two merge-joins of sorted cursors keep memory flat however large the data:
wallets by ``_id`` against the journal by ``(wallet_id, seq)``, and transfers by
``_id`` against transfer legs by ``transfer_id``. Both orders are index scans on
MongoDB. The whole walk runs inside ``store.snapshot``, so a live system is
audited at one point in time (see docs/operations.md, "Audit and operations").

``scripts/audit_pipelines.json`` states the same rules as aggregation pipelines
for the mongo shell; ``tests/test_audit_pipelines.py`` keeps the two in step.
"""
from dataclasses import dataclass, field
from itertools import groupby

RULES = {
    "balance_equals_last_entry": "a wallet's balance equals balance_after of its last entry (0 if none)",
    "balance_equals_journal_sum": "a wallet's balance equals the signed sum of its journal",
    "version_equals_last_seq": "a wallet's version equals the seq of its last entry (0 if none)",
    "seq_contiguous": "a wallet's entries have seq 1..n with no gap and no repeat",
    "no_negative_balance": "no wallet balance and no entry's balance_after is below zero",
    "entry_has_wallet": "every journal entry belongs to an existing wallet",
    "transfer_has_two_legs": "a transfer has exactly one debit of -amount in the sending wallet and "
                             "one credit of +amount in the receiving wallet, each naming the other",
    "leg_has_transfer": "every transfer_in and transfer_out entry belongs to an existing transfer",
    "money_conserved": "the total of all balances equals the total deposited",
}
LEG_TYPES = ("transfer_in", "transfer_out")
MAX_LISTED = 100
BATCH_SIZE = 1000


@dataclass
class Report:
    """What the audit counted and every broken rule (the first ``max_listed`` in full)."""

    max_listed: int = MAX_LISTED
    wallets: int = 0
    entries: int = 0
    total_deposited_cents: int = 0
    total_held_cents: int = 0
    violation_count: int = 0
    violations: list = field(default_factory=list)

    @property
    def ok(self):
        return self.violation_count == 0

    def flag(self, rule, subject_id, detail):
        assert rule in RULES, rule
        self.violation_count += 1
        if len(self.violations) < self.max_listed:
            self.violations.append({"rule": rule, "id": subject_id, "detail": detail})


@dataclass
class _Journal:
    """One wallet's journal, summarised as it streams by in seq order."""

    entries: int = 0
    distinct_seqs: int = 0
    sum_cents: int = 0
    first_seq: int = 0
    last_seq: int = 0
    last_balance_cents: int = 0


def verify(store, batch_size=BATCH_SIZE, max_listed=MAX_LISTED):
    """Check every rule in RULES over one consistent view of the store; return a Report."""
    def run(db):
        report = Report(max_listed=max_listed)
        _check_wallets(db, report, batch_size)
        _check_transfers(db, report, batch_size)
        if report.total_held_cents != report.total_deposited_cents:
            report.flag("money_conserved", None,
                        f"balances hold {report.total_held_cents} cents, deposits total "
                        f"{report.total_deposited_cents} cents")
        return report

    return store.snapshot(run)


def _key(value):
    """A sort key comparable across documents: a non-string id sorts first, like null in MongoDB."""
    return value if isinstance(value, str) else ""


def _groups(cursor, field_name):
    """(key, documents) runs of a cursor sorted by ``field_name``."""
    return groupby(cursor, key=lambda doc: _key(doc.get(field_name)))


def _check_wallets(db, report, batch_size):
    journal_cursor = db.operations.find().sort([("wallet_id", 1), ("seq", 1)]).batch_size(batch_size)
    journals = _groups(journal_cursor, "wallet_id")
    current = next(journals, None)
    for wallet in db.wallets.find().sort("_id", 1).batch_size(batch_size):
        wallet_id = _key(wallet["_id"])
        while current is not None and current[0] < wallet_id:
            _summarise(current[1], report, orphan=True)
            current = next(journals, None)
        journal = _Journal()
        if current is not None and current[0] == wallet_id:
            journal = _summarise(current[1], report, orphan=False)
            current = next(journals, None)
        _check_wallet(wallet, journal, report)
    while current is not None:
        _summarise(current[1], report, orphan=True)
        current = next(journals, None)


def _summarise(entries, report, orphan):
    """Check each entry on its own and fold the run into a _Journal."""
    journal = _Journal()
    for entry in entries:
        report.entries += 1
        if entry["type"] == "deposit":
            report.total_deposited_cents += entry["amount_cents"]
        if entry["balance_after_cents"] < 0:
            report.flag("no_negative_balance", entry["_id"],
                        f"balance_after is {entry['balance_after_cents']} cents")
        if orphan:
            report.flag("entry_has_wallet", entry["_id"], f"no wallet {entry.get('wallet_id')}")
        if journal.entries == 0:
            journal.first_seq = entry["seq"]
        if journal.entries == 0 or entry["seq"] != journal.last_seq:
            journal.distinct_seqs += 1
        journal.entries += 1
        journal.sum_cents += entry["amount_cents"]
        journal.last_seq = entry["seq"]
        journal.last_balance_cents = entry["balance_after_cents"]
    return journal


def _check_wallet(wallet, journal, report):
    wallet_id, balance = wallet["_id"], wallet["balance_cents"]
    report.wallets += 1
    report.total_held_cents += balance
    if balance != journal.last_balance_cents:
        report.flag("balance_equals_last_entry", wallet_id,
                    f"balance {balance} cents, last entry says {journal.last_balance_cents}")
    if balance != journal.sum_cents:
        report.flag("balance_equals_journal_sum", wallet_id,
                    f"balance {balance} cents, journal sums to {journal.sum_cents}")
    if wallet["version"] != journal.last_seq:
        report.flag("version_equals_last_seq", wallet_id,
                    f"version {wallet['version']}, last seq {journal.last_seq}")
    contiguous = (journal.first_seq == 1 and journal.last_seq == journal.distinct_seqs
                  == journal.entries)
    if journal.entries and not contiguous:
        report.flag("seq_contiguous", wallet_id,
                    f"{journal.entries} entries, {journal.distinct_seqs} distinct seqs from "
                    f"{journal.first_seq} to {journal.last_seq}; expected 1..{journal.entries}")
    if balance < 0:
        report.flag("no_negative_balance", wallet_id, f"balance is {balance} cents")


def _check_transfers(db, report, batch_size):
    leg_cursor = (db.operations.find({"type": {"$in": list(LEG_TYPES)}})
                  .sort("transfer_id", 1).batch_size(batch_size))
    groups = _groups(leg_cursor, "transfer_id")
    current = next(groups, None)
    for transfer in db.transfers.find().sort("_id", 1).batch_size(batch_size):
        transfer_id = _key(transfer["_id"])
        while current is not None and current[0] < transfer_id:
            _flag_orphan_legs(current[1], report)
            current = next(groups, None)
        legs = []
        if current is not None and current[0] == transfer_id:
            legs = list(current[1])  # two, unless the books are broken
            current = next(groups, None)
        _check_legs(transfer, legs, report)
    while current is not None:
        _flag_orphan_legs(current[1], report)
        current = next(groups, None)


def _flag_orphan_legs(legs, report):
    for leg in legs:
        report.flag("leg_has_transfer", leg["_id"], f"no transfer {leg.get('transfer_id')}")


def _check_legs(transfer, legs, report):
    amount = transfer["amount_cents"]
    sender, receiver = transfer["from_wallet_id"], transfer["to_wallet_id"]
    debits = [leg for leg in legs if leg["type"] == "transfer_out" and leg["wallet_id"] == sender
              and leg["amount_cents"] == -amount and leg.get("counterparty_wallet_id") == receiver]
    credits = [leg for leg in legs if leg["type"] == "transfer_in" and leg["wallet_id"] == receiver
               and leg["amount_cents"] == amount and leg.get("counterparty_wallet_id") == sender]
    if not (len(legs) == 2 and len(debits) == 1 and len(credits) == 1):
        report.flag("transfer_has_two_legs", transfer["_id"],
                    f"{len(legs)} legs: {len(debits)} matching debit(s), "
                    f"{len(credits)} matching credit(s) of {amount} cents")
