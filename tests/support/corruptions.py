"""A small healthy ledger, and every way the tests break it, with what the audit must report.

Each corruption edits the stored documents directly (as a bug, a bad migration or a
hand edit would) and returns the exact set of (rule, subject id) the audit must find.
"""
from dataclasses import dataclass

from app import ledger


@dataclass
class World:
    """Wallets a, b (with history) and c (empty); deposits da (bank->a 1000) and db (bank->b 500),
    transfers t1 (a->b 300) and t2 (b->a 100); hold h (a->c 50, pending); withdrawal wd (b 20,
    pending: held in b)."""

    db: dict
    a: str
    b: str
    c: str
    t1: str
    t2: str
    da: str
    db_: str
    a_client: str
    b_client: str
    h: str
    wd: str = None
    store: object = None

    def refund_t2(self, cents=60):
        """a gives back part of t2 (b->a 100): the refund a->b, returned as stored."""
        refund, _ = ledger.refund(self.store, self.a_client, self.t2, cents)
        return refund

    def entry(self, wallet_id, seq):
        return self.db["operations"].find_one({"wallet_id": wallet_id, "seq": seq})

    def leg(self, transfer_id, kind):
        return self.db["operations"].find_one({"transfer_id": transfer_id, "type": kind})

    def bank_shard(self, transfer_id):
        (posting,) = [p for p in self.db["transfers"].find_one({"_id": transfer_id})["postings"]
                      if p["account_id"].startswith("sys_")]
        return posting["account_id"]

    def set_entry(self, wallet_id, at_seq, **fields):
        self.db["operations"].update_one({"wallet_id": wallet_id, "seq": at_seq}, {"$set": fields})


def build_world(store):
    """a: deposit 1000, -300, +100 -> 800. b: deposit 500, +300, -100 -> 700. c: 0."""
    people = []
    for name in ("a", "b", "c"):
        result, _ = ledger.create_client(store, f"{name}@example.com", name.upper(), "hash")
        people.append((result["client"]["_id"], result["wallet"]["_id"]))
    (client_a, a), (client_b, b), (_, c) = people
    da, _ = ledger.deposit(store, a, 1000)
    db_, _ = ledger.deposit(store, b, 500)
    t1, _ = ledger.transfer(store, client_a, a, b, 300)
    t2, _ = ledger.transfer(store, client_b, b, a, 100)
    h, _ = ledger.create_hold(store, client_a, a, c, 50)
    wd, _ = ledger.create_withdrawal(store, client_b, b, 20, {"type": "bank_account", "account": "acct"},
                                     "manual")
    return World(store.collections, a, b, c, t1["_id"], t2["_id"], da["transfer_id"],
                 db_["transfer_id"], client_a, client_b, h["_id"], wd["_id"], store)


def balance_changed(w):
    w.db["wallets"].update_one({"_id": w.a}, {"$inc": {"balance_cents": 7}})
    return {("balance_equals_last_entry", w.a), ("balance_equals_journal_sum", w.a),
            ("available_equals_balance_minus_held", w.a), ("accounts_sum_zero", None)}


def last_balance_after_changed(w):
    w.set_entry(w.a, 3, balance_after_cents=801)
    return {("balance_equals_last_entry", w.a)}


def deposit_amount_changed(w):
    w.set_entry(w.a, 1, amount_cents=900)
    return {("balance_equals_journal_sum", w.a), ("entries_match_postings", w.da)}


def seq_gap(w):
    w.set_entry(w.a, 3, seq=4)
    return {("seq_contiguous", w.a), ("version_equals_last_seq", w.a)}


def seq_repeated(w):
    w.db["operations"].drop_index("wallet_id_1_seq_1")  # as if the unique index had been lost
    w.set_entry(w.a, 2, seq=1)
    return {("seq_contiguous", w.a)}


def seq_repeated_at_the_end(w):
    """1, 2, 3, 3: of a's rules only the count of distinct seqs against entries sees this one."""
    w.db["operations"].drop_index("wallet_id_1_seq_1")
    w.db["operations"].insert_one(dict(w.entry(w.a, 3), _id="op_copy", type="deposit",
                                       amount_cents=0, transfer_id=None, counterparty_wallet_id=None))
    return {("seq_contiguous", w.a), ("leg_has_transfer", "op_copy"), ("entry_type_known", "op_copy")}


def version_changed(w):
    w.db["wallets"].update_one({"_id": w.a}, {"$inc": {"version": 1}})
    return {("version_equals_last_seq", w.a)}


def debit_deleted(w):
    w.db["operations"].delete_one({"_id": w.leg(w.t1, "transfer_out")["_id"]})
    return {("transfer_has_two_legs", w.t1), ("entries_match_postings", w.t1),
            ("seq_contiguous", w.a), ("balance_equals_journal_sum", w.a)}


def credit_amount_changed(w):
    w.set_entry(w.b, 2, amount_cents=301)
    return {("transfer_has_two_legs", w.t1), ("entries_match_postings", w.t1),
            ("balance_equals_journal_sum", w.b)}


def credit_duplicated(w):
    """Money printed: a second credit for t1, with b's balance and version moved to match."""
    copy = dict(w.leg(w.t1, "transfer_in"), _id="op_duplicate", seq=4, balance_after_cents=1000)
    w.db["operations"].insert_one(copy)
    w.db["wallets"].update_one({"_id": w.b}, {"$set": {"balance_cents": 1000, "available_cents": 980,
                                                       "version": 4}})
    return {("transfer_has_two_legs", w.t1), ("entries_match_postings", w.t1),
            ("accounts_sum_zero", None)}


def credit_names_wrong_counterparty(w):
    w.set_entry(w.b, 2, counterparty_wallet_id=w.c)
    return {("transfer_has_two_legs", w.t1)}


def transfer_amount_changed(w):
    w.db["transfers"].update_one({"_id": w.t1}, {"$set": {"amount_cents": 250}})
    return {("transfer_has_two_legs", w.t1)}


def transfer_deleted(w):
    w.db["transfers"].delete_one({"_id": w.t2})
    return {("leg_has_transfer", w.leg(w.t2, "transfer_out")["_id"]),
            ("leg_has_transfer", w.leg(w.t2, "transfer_in")["_id"])}


def legs_point_elsewhere(w):
    legs = [w.leg(w.t1, kind)["_id"] for kind in ("transfer_out", "transfer_in")]
    w.db["operations"].update_many({"_id": {"$in": legs}}, {"$set": {"transfer_id": "tr_ghost"}})
    return {("transfer_has_two_legs", w.t1), ("entries_match_postings", w.t1),
            ("leg_has_transfer", legs[0]), ("leg_has_transfer", legs[1])}


def negative_wallet_balance(w):
    w.db["wallets"].update_one({"_id": w.c}, {"$set": {"balance_cents": -50, "available_cents": -50}})
    return {("no_negative_balance", w.c), ("balance_equals_last_entry", w.c),
            ("balance_equals_journal_sum", w.c), ("available_not_negative", w.c),
            ("accounts_sum_zero", None)}


def negative_balance_after(w):
    w.set_entry(w.a, 1, balance_after_cents=-1)
    return {("no_negative_balance", w.entry(w.a, 1)["_id"])}


def entry_without_wallet(w):
    w.db["operations"].insert_one({
        "_id": "op_ghost", "wallet_id": "wal_ghost", "seq": 1, "type": "deposit", "amount_cents": 50,
        "balance_after_cents": 50, "counterparty_wallet_id": None, "transfer_id": None,
        "details": None, "created_at": w.entry(w.a, 1)["created_at"]})
    return {("entry_has_wallet", "op_ghost"), ("leg_has_transfer", "op_ghost")}


def wallet_deleted(w):
    entries = [w.entry(w.b, seq)["_id"] for seq in (1, 2, 3)]
    w.db["wallets"].delete_one({"_id": w.b})
    return {("entry_has_wallet", entry_id) for entry_id in entries} | {("accounts_sum_zero", None)}


def held_negative(w):
    w.db["wallets"].update_one({"_id": w.c}, {"$set": {"held_cents": -5, "available_cents": 5}})
    return {("held_not_negative", w.c), ("held_equals_pending_holds", w.c)}


def hold_remaining_changed(w):
    w.db["holds"].update_one({"_id": w.h}, {"$inc": {"remaining_cents": 1}})
    return {("held_equals_pending_holds", w.a), ("hold_parts_equal_amount", w.h)}


def hold_voided_without_release(w):
    """The hold is marked voided but its money was never given back: a's held is stuck."""
    w.db["holds"].update_one({"_id": w.h}, {"$set": {"status": "voided"}})
    return {("held_equals_pending_holds", w.a), ("hold_parts_equal_amount", w.h)}


def hold_captured_twice_on_paper(w):
    """A capture counted on the hold that no money backs: its parts exceed its amount."""
    w.db["holds"].update_one({"_id": w.h}, {"$inc": {"captured_cents": 20}})
    return {("hold_parts_equal_amount", w.h)}


def closed_with_money(w):
    """A wallet marked closed while it still holds money."""
    w.db["wallets"].update_one({"_id": w.b}, {"$set": {"status": "closed"}})
    return {("closed_wallet_is_empty", w.b)}


def held_moved_without_hold(w):
    """held and available moved together (still balance - held) with no hold behind them."""
    w.db["wallets"].update_one({"_id": w.b}, {"$inc": {"held_cents": 20, "available_cents": -20}})
    return {("held_equals_pending_holds", w.b)}


def withdrawal_failed_without_release(w):
    """The withdrawal is marked failed but its reservation was never given back: b's held is stuck."""
    w.db["withdrawals"].update_one({"_id": w.wd}, {"$set": {"status": "failed"}})
    return {("held_equals_pending_holds", w.b)}


def withdrawal_amount_changed(w):
    w.db["withdrawals"].update_one({"_id": w.wd}, {"$inc": {"amount_cents": 1}})
    return {("held_equals_pending_holds", w.b)}


def withdrawal_succeeded_without_payout(w):
    """Marked succeeded with no money moved: held still holds it and payouts never got it."""
    w.db["withdrawals"].update_one({"_id": w.wd}, {"$set": {"status": "succeeded"}})
    return {("held_equals_pending_holds", w.b), ("payouts_equal_withdrawals", "sys_payouts")}


def payouts_shard_changed(w):
    """Money appears in a payouts shard with no posting and no withdrawal behind it."""
    w.db["system_accounts"].update_one({"_id": "sys_payouts_03"}, {"$inc": {"balance_cents": 10}})
    return {("payouts_equal_withdrawals", "sys_payouts"), ("accounts_sum_zero", None)}


def available_changed(w):
    w.db["wallets"].update_one({"_id": w.a}, {"$inc": {"available_cents": -1}})
    return {("available_equals_balance_minus_held", w.a)}


def entry_type_unknown(w):
    w.set_entry(w.a, 1, type="gift")
    return {("entry_type_known", w.entry(w.a, 1)["_id"])}


def debit_type_unknown(w):
    """An unknown type on a debit (t1's -300 leg): a test of type and sign that reads only a
    credit's sign, or mongomock's {"$not": [x]}, lets it through."""
    w.set_entry(w.a, 2, type="fee")
    return {("entry_type_known", w.entry(w.a, 2)["_id"]), ("transfer_has_two_legs", w.t1)}


def posting_changed(w):
    """t1 credits b 301 while its debit is 300: money out of nowhere in the postings."""
    w.db["transfers"].update_one({"_id": w.t1}, {"$set": {"postings.1.amount_cents": 301}})
    return {("postings_balance", w.t1), ("entries_match_postings", w.t1)}


def system_shard_changed(w):
    shard = w.bank_shard(w.da)
    w.db["system_accounts"].update_one({"_id": shard}, {"$inc": {"balance_cents": 10}})
    return {("system_balance_equals_postings", shard), ("accounts_sum_zero", None)}


def deposit_without_bank_posting(w):
    """The bank side of a deposit is lost: its postings no longer balance, nor (if the shard has
    other postings) does the shard; a shard left with none is seen only by the accounts' sum,
    which still holds here."""
    shard = w.bank_shard(w.db_)
    w.db["transfers"].update_one({"_id": w.db_}, {"$pull": {"postings": {"account_id": shard}}})
    shared = shard == w.bank_shard(w.da)
    return {("postings_balance", w.db_)} | ({("system_balance_equals_postings", shard)} if shared else set())


def refunds_exceed_transfer(w):
    """t2 shrunk below what was refunded of it: the refund is more than the transfer moved."""
    w.refund_t2(60)
    w.db["transfers"].update_one({"_id": w.t2}, {"$set": {"amount_cents": 50}})
    return {("refunds_within_transfer", w.t2), ("transfer_has_two_legs", w.t2)}


def refunded_cents_changed(w):
    w.refund_t2(60)
    w.db["transfers"].update_one({"_id": w.t2}, {"$inc": {"refunded_cents": -10}})
    return {("refunds_within_transfer", w.t2)}


def refund_points_at_a_ghost(w):
    refund = w.refund_t2(60)
    w.db["transfers"].update_one({"_id": refund["_id"]}, {"$set": {"links.refund_of": "tr_ghost"}})
    return {("refund_reverses_transfer", refund["_id"]), ("refunds_within_transfer", w.t2)}


def refund_not_reversed(w):
    """The refund a->b points at t1, which went a->b too: the same direction, not reversed."""
    refund = w.refund_t2(60)
    w.db["transfers"].update_one({"_id": refund["_id"]}, {"$set": {"links.refund_of": w.t1}})
    return {("refund_reverses_transfer", refund["_id"]), ("refunds_within_transfer", w.t2),
            ("refunds_within_transfer", w.t1)}


def refund_of_a_deposit(w):
    refund = w.refund_t2(60)
    w.db["transfers"].update_one({"_id": refund["_id"]}, {"$set": {"links.refund_of": w.da}})
    return {("refund_reverses_transfer", refund["_id"]), ("refunds_within_transfer", w.t2)}


def refund_leg_typed_as_transfer(w):
    refund = w.refund_t2(60)
    w.db["operations"].update_one({"transfer_id": refund["_id"], "type": "refund_in"},
                                  {"$set": {"type": "transfer_in"}})
    return {("transfer_has_two_legs", refund["_id"])}


CORRUPTIONS = [
    balance_changed, last_balance_after_changed, deposit_amount_changed, seq_gap, seq_repeated,
    seq_repeated_at_the_end, version_changed, debit_deleted, credit_amount_changed, credit_duplicated,
    credit_names_wrong_counterparty, transfer_amount_changed, transfer_deleted, legs_point_elsewhere,
    negative_wallet_balance, negative_balance_after, entry_without_wallet, wallet_deleted,
    held_negative, hold_remaining_changed, hold_voided_without_release, held_moved_without_hold,
    closed_with_money,
    hold_captured_twice_on_paper,
    withdrawal_failed_without_release, withdrawal_amount_changed, withdrawal_succeeded_without_payout,
    payouts_shard_changed,
    available_changed, entry_type_unknown, debit_type_unknown, posting_changed, system_shard_changed,
    deposit_without_bank_posting,
    refunds_exceed_transfer, refunded_cents_changed, refund_points_at_a_ghost, refund_not_reversed,
    refund_of_a_deposit, refund_leg_typed_as_transfer,
]
