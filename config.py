"""Configuration, read from the environment only."""
import os


def _int(name, default):
    return int(os.environ.get(name, default))


class Config:
    """Settings for one process; every value comes from the environment."""

    MONGO_URI = os.environ.get("MONGO_URI") or None
    MONGO_DB = os.environ.get("MONGO_DB", "wallet")
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    OPERATOR_TOKEN = os.environ.get("OPERATOR_TOKEN") or None
    HOST = os.environ.get("HOST", "127.0.0.1")
    PORT = _int("PORT", 8080)
    TOKEN_LIFETIME_S = _int("TOKEN_LIFETIME_S", 3600)
    IDEMPOTENCY_TTL_S = _int("IDEMPOTENCY_TTL_S", 24 * 3600)
    # Embedded engine: records one caller (a client, the operator, or all sign-ups together)
    # keeps at most; past it the oldest is dropped, and a retry of its key runs again.
    IDEMPOTENCY_MAX_PER_SCOPE = _int("IDEMPOTENCY_MAX_PER_SCOPE", 10_000)
    # werkzeug method string; scrypt with n=2**15 costs ~50-100 ms a hash on purpose.
    PASSWORD_HASH_METHOD = os.environ.get("PASSWORD_HASH_METHOD", "scrypt:32768:8:1")
    # Request bodies are a few hundred bytes; refuse anything past this before reading it.
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 64 * 1024)
    # The commit's time limit (maxCommitTimeMS). pymongo's own retries of a conflicting
    # transaction stop after 120 s, a fixed limit of with_transaction.
    TRANSACTION_TIMEOUT_MS = _int("TRANSACTION_TIMEOUT_MS", 10000)
    # How long an operation waits for a primary; longer than an election (~10-12 s), so
    # requests during a failover wait rather than fail. Past it: 503 database_unavailable.
    SERVER_SELECTION_TIMEOUT_MS = _int("SERVER_SELECTION_TIMEOUT_MS", 30000)
    # Each request's whole time on MongoDB (pymongo.timeout), driver retries included: longer
    # than an election, shorter than gunicorn's 30 s timeout. Past it after write conflicts:
    # 503 wallet_busy; otherwise 503 database_unavailable.
    REQUEST_TIMEOUT_MS = _int("REQUEST_TIMEOUT_MS", 15000)
    # /ready turns 503 only after 3 failed pings in a row spanning this long (an election passes).
    READY_GRACE_S = _int("READY_GRACE_S", 30)
    # Where the audit's snapshot reads go: "primary", or "secondaryPreferred" to spare the primary.
    AUDIT_READ_PREFERENCE = os.environ.get("AUDIT_READ_PREFERENCE", "primary")
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # Run the sweeper (expired holds written down) as a thread of this process: `make run`
    # sets it on the embedded engine; on MongoDB the sweeper is its own process
    # (`flask --app app ledger sweep`, the compose service "sweeper").
    SWEEPER_THREAD = os.environ.get("SWEEPER_THREAD", "") in ("1", "true", "yes")
    SWEEP_INTERVAL_S = float(os.environ.get("SWEEP_INTERVAL_S", "1"))
    # Documents the audit fetches per round trip; it never holds more than a batch.
    AUDIT_BATCH_SIZE = _int("AUDIT_BATCH_SIZE", 1000)
