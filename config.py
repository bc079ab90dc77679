"""Configuration, read from the environment only."""
import os


def _int(name, default):
    return int(os.environ.get(name, default))


def _float(name, default):
    return float(os.environ.get(name, default))


def _flag(name):
    return os.environ.get(name, "") in ("1", "true", "yes")


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
    # Embedded engine: unexpired records one client (or all sign-ups together) keeps at most; a
    # keyed request past it is 503 idempotency_store_full (nothing done), no key is dropped
    # before IDEMPOTENCY_TTL_S. The operator's are never bounded.
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
    # Who pays withdrawals out: "sandbox" (settles by itself; the default on the embedded
    # engine) or "manual" (an operator settles each one; the default with MONGO_URI).
    WITHDRAWAL_PROVIDER = os.environ.get("WITHDRAWAL_PROVIDER") or None
    # The sandbox settles a withdrawal this long after it was handed over, and returns a
    # `return...` account's this long after it succeeded.
    SANDBOX_SETTLE_S = float(os.environ.get("SANDBOX_SETTLE_S", "2"))
    SANDBOX_RETURN_S = float(os.environ.get("SANDBOX_RETURN_S", "3"))
    # Documents the audit fetches per round trip; it never holds more than a batch.
    AUDIT_BATCH_SIZE = _int("AUDIT_BATCH_SIZE", 1000)
    # Pending payment requests one payee wallet may have open towards one payer wallet.
    MAX_PENDING_REQUESTS_PER_PAYER = _int("MAX_PENDING_REQUESTS_PER_PAYER", 20)
    # Events (docs/features/events.md). Kept at least 30 days.
    EVENTS_TTL_S = _int("EVENTS_TTL_S", 30 * 24 * 3600)
    # The feed serves events older than this. Unset: 0 on the embedded engine (its units
    # commit in the order they take their time), 75 s on MongoDB (longer than a transaction
    # can live: 60 s transactionLifetimeLimitSeconds plus the commit's time limit).
    EVENTS_SETTLE_MS = int(os.environ["EVENTS_SETTLE_MS"]) if os.environ.get("EVENTS_SETTLE_MS") else None
    # Run the dispatcher as a thread of the server process (`make run` sets it: embedded data
    # lives there). On MongoDB it runs as its own process: `flask --app app events dispatch`.
    EVENTS_DISPATCHER_THREAD = _flag("EVENTS_DISPATCHER_THREAD")
    DISPATCH_INTERVAL_S = _float("DISPATCH_INTERVAL_S", 1.0)
    # One deadline for each whole attempt: connect, TLS, request, the answer's head (also SMTP's timeout).
    WEBHOOK_TIMEOUT_S = _float("WEBHOOK_TIMEOUT_S", 10.0)
    # Webhook attempts one dispatcher makes at once (threads; greenlets in the server), and how
    # many of them one owner's endpoints may hold: a slow owner leaves the rest to the others.
    DELIVERY_WORKERS = _int("DELIVERY_WORKERS", 16)
    DELIVERY_WORKERS_PER_OWNER = _int("DELIVERY_WORKERS_PER_OWNER", 4)
    # A claimed delivery is another dispatcher's to take once its lease lapses: longer than a send.
    DELIVERY_LEASE_S = _float("DELIVERY_LEASE_S", 60.0)
    RETRY_BASE_S = _float("RETRY_BASE_S", 30.0)
    RETRY_MAX_S = _float("RETRY_MAX_S", 6 * 3600.0)
    RETRY_FOR_S = _float("RETRY_FOR_S", 3 * 24 * 3600.0)
    DISABLE_AFTER_S = _float("DISABLE_AFTER_S", 5 * 24 * 3600.0)
    # Lifts the outbound guard (https only, public addresses only): development and tests.
    WEBHOOK_ALLOW_PRIVATE = _flag("WEBHOOK_ALLOW_PRIVATE")
    # The ports a webhook URL may name, e.g. "443,8443" or "8000-8999". Unset: 443, and 80 where
    # WEBHOOK_ALLOW_PRIVATE allows http. Read (a bad one stops the start) by app/factory.py.
    WEBHOOK_ALLOWED_PORTS = os.environ.get("WEBHOOK_ALLOWED_PORTS") or None
    # smtp://[user:password@]host[:port] or smtps://...; unset: no e-mail notices.
    SMTP_URL = os.environ.get("SMTP_URL") or None
    SMTP_FROM = os.environ.get("SMTP_FROM", "wallet@localhost")
    # The limits a new wallet starts with, as PUT /wallets/{id}/limits takes them (JSON), e.g.
    # {"max_balance": "1000.00", "daily_out_amount": "500.00"}. None by default.
    # Read (and checked: a bad one stops the start) by app/factory.py.
    DEFAULT_LIMITS = os.environ.get("DEFAULT_LIMITS") or "{}"
    # Tenants (docs/features/tenants.md). What a new tenant gets unless POST /tenants says
    # otherwise (JSON, as the API takes them); the default tenant has the same service limits.
    TENANT_SERVICE_LIMITS = os.environ.get("TENANT_SERVICE_LIMITS") or (
        '{"max_clients": 100000, "max_api_keys": 100, "max_webhook_endpoints": 100, '
        '"max_pending_payment_requests": 10000}')
    # A new tenant's rate limit, per process (the limit is divided among the workers); the
    # default tenant has none unless PATCH /tenants/default sets one.
    TENANT_RATE_LIMIT = os.environ.get("TENANT_RATE_LIMIT") or '{"requests_per_s": 100, "burst": 200}'
    # How long a worker trusts what it read of a tenant (status, limits) before reading it again.
    TENANT_CACHE_S = _float("TENANT_CACHE_S", 1.0)
    # The operators' console (/console/, docs/features/console.md): how long a session lasts
    # (absolute, from sign-in), and how often one address may try a secret at sign-in.
    CONSOLE_SESSION_S = _int("CONSOLE_SESSION_S", 8 * 3600)
    CONSOLE_SIGN_IN_PER_MINUTE = _float("CONSOLE_SIGN_IN_PER_MINUTE", 6.0)
    CONSOLE_SIGN_IN_BURST = _int("CONSOLE_SIGN_IN_BURST", 5)
