"""The audit: the rule table (``rules.RULES``) and the checks that prove the books whole.

Three forms of one rule set: ``rules.verify`` (GET /audit, ``flask --app app ledger
verify``), the per-wallet journal summaries it asks the database for (``journal``),
and the mongosh pipelines of scripts/audit_pipelines.json.
"""
from app.audit.rules import BATCH_SIZE, MAX_LISTED, RULES, Report, verify, verify_platform

__all__ = ["BATCH_SIZE", "MAX_LISTED", "RULES", "Report", "verify", "verify_platform"]
