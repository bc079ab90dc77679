"""The audit: prove the books are whole, reading everything once, in batches (no Flask).

The journal does not cross the wire entry by entry: the database sends one
summary per wallet (app/audit/journal.py), and the summaries, sorted by wallet
id, are merge-joined with the wallets sorted by ``_id``. Only the entries of a
wallet with suspect entries (a negative ``balance_after``, a type unknown or of
the wrong sign), or of a wallet id no wallet has, are then read (an index lookup)
and checked one by one, so each violation still names its entry.

Transfers by ``_id`` are merge-joined with their journal entries by
``transfer_id`` (an index scan), projected to the fields the leg checks read. The
system accounts are a few shard documents, read whole. Everything runs inside
``store.snapshot``, so a live system is audited at one point in time (see
docs/operations.md, "Audit", and docs/architecture.md, "The audit on MongoDB", for the time it takes).

``app.audit.pipelines`` states the same rules as aggregation pipelines for the
mongo shell (``python -m app.audit.pipelines > scripts/audit_pipelines.json``);
``tests/audit/test_audit_pipelines.py`` runs both on every corruption and fails when the file
is stale.
"""
from collections import Counter
from dataclasses import dataclass, field
from itertools import groupby

from app.audit import journal as audit_journal
from app.ledger import accounts
from app.ledger.entry_types import CREDIT, ENTRY_TYPES, LEGS_OF
from app.ledger.invariants import UnknownAuditRule, require

RULES = {
    "balance_equals_last_entry": "a wallet's balance equals balance_after of its last entry (0 if none)",
    "balance_equals_journal_sum": "a wallet's balance equals the signed sum of its journal",
    "version_equals_last_seq": "a wallet's version equals the seq of its last entry (0 if none)",
    "seq_contiguous": "a wallet's entries have seq 1..n with no gap and no repeat",
    "no_negative_balance": "no wallet balance and no entry's balance_after is below zero",
    "held_not_negative": "no wallet's held money is below zero",
    "available_not_negative": "no wallet's available money is below zero",
    "available_equals_balance_minus_held": "a wallet's available equals its balance minus held",
    "hold_parts_equal_amount": "a hold's captured + released + remaining equals its amount, and "
                               "only a pending hold has anything remaining",
    "held_equals_pending_holds": "a wallet's held equals the sum of remaining of the holds it pays "
                                 "whose stored status is pending (one past expires_at counts "
                                 "until it is written down) plus the amounts of its pending and "
                                 "processing withdrawals",
    "entry_has_wallet": "every journal entry belongs to an existing wallet",
    "entry_type_known": "every entry's type is in the table of entry types, with that type's sign",
    "leg_has_transfer": "every journal entry belongs to an existing transfer",
    "postings_balance": "a transfer's postings sum to zero",
    "entries_match_postings": "a transfer's journal entries are exactly one per wallet posting, "
                              "in that wallet, of that amount",
    "transfer_has_two_legs": "a wallet-to-wallet transfer (or refund) has exactly one debit of "
                             "-amount in the sending wallet and one credit of +amount in the "
                             "receiving wallet, each naming the other, of its type's entry types",
    "refunds_within_transfer": "a transfer's refunds sum to its refunded_cents and never exceed its amount",
    "refund_reverses_transfer": "a refund points at a wallet-to-wallet transfer between the same two "
                                "wallets, the other way round",
    "system_balance_equals_postings": "a system account shard that has postings has a balance "
                                      "equal to their sum (one with none: accounts_sum_zero)",
    "accounts_sum_zero": "the balances of all accounts, system accounts included, sum to zero",
    "closed_wallet_is_empty": "a closed wallet's balance and held are zero",
    "payouts_equal_withdrawals": "the payouts system account holds exactly the amounts of succeeded "
                                 "withdrawals (a returned one went in and came back out)",
}
# A withdrawal's amount stays reserved in its wallet's held while it is in one of these.
WITHDRAWALS_IN_FLIGHT = ("pending", "processing")
MAX_LISTED = 100
BATCH_SIZE = 1000


@dataclass
class Report:
    """What the audit counted and every broken rule (the first ``max_listed`` in full)."""

    max_listed: int = MAX_LISTED
    wallets: int = 0
    entries: int = 0
    total_deposited_cents: int = 0
    total_held_cents: int = 0      # the sum of client wallet balances (money clients hold)
    accounts_sum_cents: int = 0
    system_balances: dict = field(default_factory=lambda: dict.fromkeys(accounts.SYSTEM_ACCOUNTS, 0))
    violation_count: int = 0
    violations: list = field(default_factory=list)

    @property
    def ok(self):
        return self.violation_count == 0

    def flag(self, rule, subject_id, detail):
        require(rule in RULES, UnknownAuditRule, f"{rule!r} is not in RULES")
        self.violation_count += 1
        if len(self.violations) < self.max_listed:
            self.violations.append({"rule": rule, "id": subject_id, "detail": detail})


# The fields each walk reads: nothing else crosses the wire.
WALLET_FIELDS = ("_id", "balance_cents", "held_cents", "available_cents", "version", "status")
ENTRY_FIELDS = ("_id", "wallet_id", "type", "amount_cents", "balance_after_cents")
LEG_FIELDS = ("_id", "wallet_id", "amount_cents", "type", "counterparty_wallet_id", "transfer_id")
TRANSFER_FIELDS = ("_id", "type", "amount_cents", "from_wallet_id", "to_wallet_id", "postings")
ORIGINAL_FIELDS = ("_id", "type", "amount_cents", "from_wallet_id", "to_wallet_id", "refunded_cents")
HOLD_FIELDS = ("_id", "status", "amount_cents", "captured_cents", "released_cents", "remaining_cents")
REFUND_FIELDS = ("_id", "amount_cents", "from_wallet_id", "to_wallet_id", "links")


def verify(store, batch_size=BATCH_SIZE, max_listed=MAX_LISTED):
    """Check every rule in RULES over one consistent view of the store; return a Report."""
    def run(db):
        report = Report(max_listed=max_listed)
        _check_wallets(db, report, batch_size)
        posted = _check_transfers(db, report, batch_size)
        _check_system_accounts(db, report, posted)
        _check_payouts(db, report)
        _check_holds(db, report, batch_size)
        if report.accounts_sum_cents != 0:
            report.flag("accounts_sum_zero", None,
                        f"all account balances sum to {report.accounts_sum_cents} cents")
        return report

    return store.snapshot(run)


def verify_platform(across, batch_size=BATCH_SIZE, max_listed=MAX_LISTED):
    """Every tenant's books, each checked on its own (its own snapshot: tenants share no money);
    returns (one Report adding them up, violations naming their tenant, [(tenant id, Report)])."""
    tenant_ids = across.read(lambda db: [doc["_id"]
                             for doc in db.tenants.find({}, {"_id": 1}).sort("_id", 1)])
    total, each = Report(max_listed=max_listed), []
    for tenant_id in tenant_ids:
        report = verify(across.tenant(tenant_id), batch_size, max_listed)
        each.append((tenant_id, report))
        total.wallets += report.wallets
        total.entries += report.entries
        total.total_deposited_cents += report.total_deposited_cents
        total.total_held_cents += report.total_held_cents
        total.accounts_sum_cents += report.accounts_sum_cents
        for name, cents in report.system_balances.items():
            total.system_balances[name] += cents
        total.violation_count += report.violation_count
        room = max_listed - len(total.violations)
        total.violations.extend(dict(violation, tenant_id=tenant_id)
                                for violation in report.violations[:room])
    return total, each


def _check_holds(db, report, batch_size):
    for hold in db.holds.find({}, HOLD_FIELDS).batch_size(batch_size):
        parts = hold["captured_cents"] + hold["released_cents"] + hold["remaining_cents"]
        if parts != hold["amount_cents"] or (hold["status"] != "pending" and hold["remaining_cents"]):
            report.flag("hold_parts_equal_amount", hold["_id"],
                        f"{hold['status']}: captured {hold['captured_cents']} + released "
                        f"{hold['released_cents']} + remaining {hold['remaining_cents']} cents, "
                        f"amount {hold['amount_cents']}")


def _key(value):
    """A sort key comparable across documents: a non-string id sorts first, like null in MongoDB."""
    return value if isinstance(value, str) else ""


def _merge(left, right, left_key, right_field):
    """(left document or None, run of right documents) for each key of two sorted cursors.

    Each run is consumed by the caller before the next is read: memory holds one run.
    """
    groups = groupby(right, key=lambda doc: _key(doc.get(right_field)))
    current = next(groups, None)
    for document in left:
        key = _key(document[left_key])
        while current is not None and current[0] < key:
            yield None, current[1]
            current = next(groups, None)
        if current is not None and current[0] == key:
            yield document, current[1]
            current = next(groups, None)
        else:
            yield document, ()
    while current is not None:
        yield None, current[1]
        current = next(groups, None)


def _check_wallets(db, report, batch_size):
    summaries = audit_journal.summaries(db, batch_size)
    wallets = db.wallets.find({}, WALLET_FIELDS).sort("_id", 1).batch_size(batch_size)
    held = _SumByWallet(db.holds.find({"status": "pending"}, ("from_wallet_id", "remaining_cents"))
                        .sort("from_wallet_id", 1).batch_size(batch_size), "from_wallet_id",
                        "remaining_cents")
    in_flight = _SumByWallet(db.withdrawals.find({"status": {"$in": list(WITHDRAWALS_IN_FLIGHT)}},
                                                 ("wallet_id", "amount_cents"))
                             .sort("wallet_id", 1).batch_size(batch_size), "wallet_id", "amount_cents")
    for wallet, run in _merge(wallets, summaries, "_id", "_id"):
        summary = next(iter(run), None)
        totals = audit_journal.Journal.of(summary)
        report.entries += totals.entries
        report.total_deposited_cents += totals.deposited_cents
        if wallet is None or totals.suspect:
            _check_entries(db, summary["_id"], report, orphan=wallet is None)
        if wallet is not None:
            _check_wallet(wallet, totals, report)
            _check_held(wallet, held.of(wallet["_id"]) + in_flight.of(wallet["_id"]), report)
            _check_closed(wallet, report)


def _check_closed(wallet, report):
    if wallet.get("status") == "closed" and (wallet.get("balance_cents") or wallet.get("held_cents")):
        report.flag("closed_wallet_is_empty", wallet["_id"],
                    f"closed with balance {wallet.get('balance_cents')} cents, held "
                    f"{wallet.get('held_cents')}")


class _SumByWallet:
    """``amount_field`` summed per ``wallet_field`` (pending holds' remaining per payer, in-flight
    withdrawals per wallet), read in step with wallets sorted by id."""

    def __init__(self, documents, wallet_field, amount_field):
        self._runs = groupby(documents, key=lambda doc: _key(doc.get(wallet_field)))
        self._current = next(self._runs, None)
        self._amount_field = amount_field

    def of(self, wallet_id):
        key = _key(wallet_id)
        while self._current is not None and self._current[0] < key:
            self._current = next(self._runs, None)
        if self._current is None or self._current[0] != key:
            return 0
        total = sum(doc[self._amount_field] for doc in self._current[1])
        self._current = next(self._runs, None)
        return total


def _check_held(wallet, pending_cents, report):
    if wallet.get("held_cents", 0) != pending_cents:
        report.flag("held_equals_pending_holds", wallet["_id"],
                    f"held {wallet.get('held_cents', 0)} cents, pending holds' remaining and "
                    f"in-flight withdrawals {pending_cents}")


def _check_entries(db, wallet_id, report, orphan):
    """Read one wallet id's entries (an index lookup) and check each on its own."""
    for entry in db.operations.find({"wallet_id": wallet_id}, ENTRY_FIELDS):
        _check_entry(entry, report, orphan)


def _check_entry(entry, report, orphan):
    if entry["balance_after_cents"] < 0:
        report.flag("no_negative_balance", entry["_id"],
                    f"balance_after is {entry['balance_after_cents']} cents")
    if orphan:
        report.flag("entry_has_wallet", entry["_id"], f"no wallet {entry.get('wallet_id')}")
    entry_type = ENTRY_TYPES.get(entry["type"])
    if entry_type is None or (entry["amount_cents"] > 0) != (entry_type.sign == CREDIT):
        report.flag("entry_type_known", entry["_id"],
                    f"type {entry['type']!r} with amount {entry['amount_cents']} cents")


def _check_wallet(wallet, journal, report):
    wallet_id, balance = wallet["_id"], wallet["balance_cents"]
    held, available = wallet.get("held_cents"), wallet.get("available_cents")
    report.wallets += 1
    report.total_held_cents += balance
    report.accounts_sum_cents += balance
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
    if held < 0:
        report.flag("held_not_negative", wallet_id, f"held is {held} cents")
    if available < 0:
        report.flag("available_not_negative", wallet_id, f"available is {available} cents")
    if available != balance - held:
        report.flag("available_equals_balance_minus_held", wallet_id,
                    f"available {available} cents, balance {balance} - held {held}")


def _check_transfers(db, report, batch_size):
    """Walk transfers against their entries; return the postings summed per system shard."""
    posted = Counter()
    # Bounded to string ids, the only kind a transfer has: the scan starts where the ids do,
    # not at null. The few entries with no transfer id are one index point lookup.
    for entry in db.operations.find({"transfer_id": None}, ("_id",)):
        report.flag("leg_has_transfer", entry["_id"], "no transfer None")
    legs = db.operations.find({"transfer_id": {"$gt": ""}}, LEG_FIELDS).sort(
        "transfer_id", 1).batch_size(batch_size)
    transfers = db.transfers.find({}, TRANSFER_FIELDS).sort("_id", 1).batch_size(batch_size)
    for transfer, run in _merge(transfers, legs, "_id", "transfer_id"):
        entries = list(run)  # a transfer has a few entries
        if transfer is None:
            for leg in entries:
                report.flag("leg_has_transfer", leg["_id"], f"no transfer {leg.get('transfer_id')}")
            continue
        postings = transfer.get("postings", [])
        for posting in postings:
            if accounts.is_system(posting["account_id"]):
                posted[posting["account_id"]] += posting["amount_cents"]
        _check_postings(transfer, postings, entries, report)
        if transfer["type"] in LEGS_OF:
            _check_legs(transfer, entries, report)
    _check_refunds(db, report, batch_size)
    return posted


def _check_postings(transfer, postings, entries, report):
    total = sum(posting["amount_cents"] for posting in postings)
    if total != 0:
        report.flag("postings_balance", transfer["_id"], f"postings sum to {total} cents")
    wanted = sorted((p.get("entry_id") or "", p["account_id"], p["amount_cents"])
                    for p in postings if not accounts.is_system(p["account_id"]))
    found = sorted((leg["_id"], leg["wallet_id"], leg["amount_cents"]) for leg in entries)
    if wanted != found:
        report.flag("entries_match_postings", transfer["_id"],
                    f"{len(wanted)} wallet posting(s), {len(found)} journal entries, not matching")


def _check_legs(transfer, legs, report):
    amount = transfer["amount_cents"]
    sender, receiver = transfer["from_wallet_id"], transfer["to_wallet_id"]
    debit_type, credit_type = LEGS_OF[transfer["type"]]
    debits = [leg for leg in legs if leg["type"] == debit_type and leg["wallet_id"] == sender
              and leg["amount_cents"] == -amount and leg.get("counterparty_wallet_id") == receiver]
    credits = [leg for leg in legs if leg["type"] == credit_type and leg["wallet_id"] == receiver
               and leg["amount_cents"] == amount and leg.get("counterparty_wallet_id") == sender]
    if not (len(legs) == 2 and len(debits) == 1 and len(credits) == 1):
        report.flag("transfer_has_two_legs", transfer["_id"],
                    f"{len(legs)} legs: {len(debits)} matching debit(s), "
                    f"{len(credits)} matching credit(s) of {amount} cents")


def _check_refunds(db, report, batch_size):
    """Merge the transfers with the refunds sorted by the transfer they point at."""
    originals = db.transfers.find({"type": {"$ne": "refund"}}, ORIGINAL_FIELDS).sort(
        "_id", 1).batch_size(batch_size)
    # Bounded to string ids, so the scan of the links.refund_of index skips every non-refund (null).
    refunds = (dict(doc, refund_of=(doc.get("links") or {}).get("refund_of")) for doc in db.transfers.find(
        {"links.refund_of": {"$gt": ""}, "type": "refund"}, REFUND_FIELDS).sort(
        "links.refund_of", 1).batch_size(batch_size))
    for original, run in _merge(originals, refunds, "_id", "refund_of"):
        total = 0
        for refund in run:
            total += refund["amount_cents"]
            if original is None or original["type"] != "transfer" or (
                    original["from_wallet_id"], original["to_wallet_id"]) != (
                    refund["to_wallet_id"], refund["from_wallet_id"]):
                report.flag("refund_reverses_transfer", refund["_id"],
                            f"refund_of {refund.get('refund_of')!r} is no transfer "
                            f"{refund['to_wallet_id']} -> {refund['from_wallet_id']}")
        if original is None or original["type"] != "transfer":
            continue
        refunded = original.get("refunded_cents", 0)
        if total != refunded or total > original["amount_cents"]:
            report.flag("refunds_within_transfer", original["_id"],
                        f"refunds sum to {total} cents, refunded_cents {refunded}, "
                        f"amount {original['amount_cents']}")


def _check_system_accounts(db, report, posted):
    shards = {shard["_id"]: shard for shard in db.system_accounts.find()}
    for shard_id, shard in shards.items():
        report.accounts_sum_cents += shard["balance_cents"]
        report.system_balances[shard["name"]] = (report.system_balances.get(shard["name"], 0)
                                                 + shard["balance_cents"])
    for shard_id in sorted(posted):
        balance = shards[shard_id]["balance_cents"] if shard_id in shards else None
        if balance != posted[shard_id]:
            report.flag("system_balance_equals_postings", shard_id,
                        f"balance {balance} cents, postings sum to {posted[shard_id]}")


def _check_payouts(db, report):
    """Money leaves through withdrawals only: payouts = the sum of the succeeded ones."""
    succeeded = sum(doc["amount_cents"] for doc in db.withdrawals.find(
        {"status": "succeeded", "system_account": "payouts"}, ("amount_cents",)))
    balance = report.system_balances.get("payouts", 0)
    if balance != succeeded:
        report.flag("payouts_equal_withdrawals", "sys_payouts",
                    f"payouts hold {balance} cents, succeeded withdrawals {succeeded}")
