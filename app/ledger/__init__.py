"""The money rules, without Flask or a database client: one module per aggregate.

- ``entry_types``: the one table of journal entry types.
- ``accounts``: client wallets and the sharded system accounts (bank, payouts).
- ``postings``: the one writer; postings that do not sum to zero are refused.
- ``transfers``: deposits and transfers, each one posted transfer.
- ``batches``: up to 1,000 transfers in one unit, atomic or independent.
- ``payment_requests``: the payee asks, the payer approves (a transfer) or declines.
- ``refunds``: money given back for a transfer, never more than it moved.
- ``clients``: sign-up and log-in reads.
- ``holds``: reserve, capture (in parts), void; ``expiry``: holds past expires_at.
- ``withdrawals``: money out through a payout provider (``providers``), held until it settles.
- ``sweeper``: the background steps that write expiries down (holds, payment requests).
- ``limits``: wallet limits and their daily usage, enforced by ``postings.post``.
- ``units``: ids, the clock and the idempotent unit of work.
"""
from app.ledger.batches import create_batch
from app.ledger.clients import create_client, find_login, get_client
from app.ledger.holds import capture_hold, create_hold, get_hold, list_holds, void_hold
from app.ledger.refunds import refund
from app.ledger.transfers import (deposit, get_client_wallet, get_transfer, get_wallet,
                                  list_operations, system_accounts, transfer)
from app.ledger.units import new_id, now
from app.ledger.withdrawals import create_withdrawal, get_withdrawal, list_withdrawals, settle

__all__ = ["capture_hold", "create_batch", "create_hold", "get_hold", "list_holds", "void_hold",
           "create_client", "deposit", "find_login", "get_client", "get_client_wallet",
           "get_transfer", "get_wallet", "list_operations", "new_id", "now", "refund",
           "system_accounts", "transfer", "create_withdrawal", "get_withdrawal", "list_withdrawals",
           "settle"]
