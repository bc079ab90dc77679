"""The one table of journal entry types: each type's sign and the balance it touches.

The ledger writes entries only of these types, and everything else reads this table: the
audit (``app.audit.rules`` and the mongosh pipelines ``app.audit.pipelines`` generates into
scripts/audit_pipelines.json) and the response schemas (operation.json and statement.json
say ``"x-values": "entry_types"``, which app/web/validation.py fills in when they load, for
the validator and the OpenAPI document alike). A new type is one row here, then
``python -m app.audit.pipelines > scripts/audit_pipelines.json``; tests/ledger/test_one_table.py
shows a new row reaching them all.
"""
from dataclasses import dataclass

from app.ledger.invariants import EntrySignMismatch, UnknownEntryType, require

CREDIT, DEBIT = 1, -1


@dataclass(frozen=True)
class EntryType:
    name: str
    sign: int            # CREDIT: the amount is > 0; DEBIT: < 0
    balance: str         # the balance field of the wallet it changes
    description: str


ENTRY_TYPES = {entry.name: entry for entry in (
    EntryType("deposit", CREDIT, "balance_cents", "money in from the bank system account"),
    EntryType("transfer_in", CREDIT, "balance_cents", "the receiving side of a transfer"),
    EntryType("transfer_out", DEBIT, "balance_cents", "the sending side of a transfer"),
    EntryType("refund_in", CREDIT, "balance_cents", "money back to the payer of a refunded transfer"),
    EntryType("refund_out", DEBIT, "balance_cents", "money back from the receiver of a refunded transfer"),
    EntryType("withdrawal", DEBIT, "balance_cents", "money out to the payouts system account"),
    EntryType("withdrawal_return", CREDIT, "balance_cents",
              "a returned withdrawal, back from the payouts system account"),
)}
# Entries that belong to a wallet-to-wallet transfer (two legs, each naming the other wallet).
TRANSFER_LEG_TYPES = ("transfer_in", "transfer_out")
# The (debit, credit) entry types of each wallet-to-wallet transfer record type.
LEGS_OF = {"transfer": ("transfer_out", "transfer_in"), "refund": ("refund_out", "refund_in")}


def check(name, amount_cents):
    """Refuse an entry of ``name`` with ``amount_cents`` unless the type exists and the sign fits."""
    entry_type = ENTRY_TYPES.get(name)
    require(entry_type is not None, UnknownEntryType, f"{name!r} is not in ENTRY_TYPES")
    require(amount_cents != 0 and (amount_cents > 0) == (entry_type.sign == CREDIT), EntrySignMismatch,
            f"a {name} entry cannot carry {amount_cents} cents")
