"""Every endpoint as the OpenAPI document describes it: one ``Endpoint`` per route and method.

Adding a route means adding one entry here; ``tests/api/test_openapi.py`` fails until you do.
The errors every endpoint of a kind shares are added by ``app/web/openapi.py``, so ``errors``
lists only the endpoint's own: a JSON body brings 400 ``malformed_json`` (a key repeated in
one object too)/``validation_failed``, 413 ``payload_too_large`` and 415, ``idempotent`` brings
400 ``invalid_idempotency_key``, 422 ``idempotency_key_reused`` and 503 ``outcome_unknown``,
``wallet_busy``, ``idempotency_store_full``, any ``who`` but ``PUBLIC`` brings 401, and
``CLIENT`` or ``OPERATOR`` alone brings 403.
"""
from dataclasses import dataclass, field, replace

PUBLIC, CLIENT, OPERATOR, EITHER = "public", "client", "operator", "client or operator"
PLATFORM = "platform operator"  # OPERATOR_TOKEN only: a tenant's API key is refused (403)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str                 # OpenAPI style: /wallets/{wallet_id}
    operation_id: str
    tag: str
    summary: str
    who: str                  # PUBLIC, CLIENT, OPERATOR or EITHER
    ok: tuple                 # (status, response schema title or None, media type or a tuple of them)
    body: str | None = None   # request schema: schemas/<body>.json
    idempotent: bool = False  # honours Idempotency-Key
    query: tuple = ()         # names in components.parameters
    errors: dict = field(default_factory=dict)  # status -> the codes this endpoint adds
    links: dict = field(default_factory=dict)   # name -> OpenAPI Link from the success response
    description: str = ""
    storage: bool = True      # reads or writes the database: 503 database_unavailable if it is gone
    scope: str | None = None  # the API key scope it needs, when not the one scope_of derives


JSON, HTML = "application/json", "text/html"
CSV, XML, PROMETHEUS = "text/csv", "application/xml", "text/plain"


def _link(operation_id, body=None, **parameters):
    link = {"operationId": operation_id}
    if parameters:
        link["parameters"] = parameters
    if body:
        link["requestBody"] = body
    return link


def _wallet_links(expression):
    """Links from a response that names a wallet to the operations on that wallet."""
    return {"GetWallet": _link("getWallet", wallet_id=expression),
            "ListOperations": _link("listOperations", wallet_id=expression),
            "Deposit": _link("createDeposit", wallet_id=expression)}


def _hold_links():
    return {"GetHold": _link("getHold", hold_id="$response.body#/id"),
            "GetPayer": _link("getWallet", wallet_id="$response.body#/from_wallet_id")}


def _withdrawal_links():
    return {"GetWithdrawal": _link("getWithdrawal", withdrawal_id="$response.body#/id"),
            "GetWallet": _link("getWallet", wallet_id="$response.body#/wallet_id")}


ENDPOINTS = (
    Endpoint("POST", "/clients", "createClient", "Clients", "Sign up: a client and its USD wallet",
             PUBLIC, (201, "Client", JSON), body="client_create", idempotent=True,
             errors={409: ("email_taken",)},
             links=dict(_wallet_links("$response.body#/wallet/id"), LogIn=_link(
                 "createToken", {"email": "$request.body#/email", "password": "$request.body#/password"}),
                 PayIn=_link("createTransfer", {"to_wallet_id": "$response.body#/wallet/id"})),
             description="The email is unique, compared without case. Keys of `Idempotency-Key` are "
                         "scoped to the key alone here, since there is no caller yet."),
    Endpoint("POST", "/auth/token", "createToken", "Clients", "Log in: a client bearer token",
             PUBLIC, (200, "Token", JSON), body="token_create",
             errors={401: ("invalid_credentials",)}, links={"GetMe": _link("getMe")},
             description="A wrong email and a wrong password get the same 401, in the same time."),
    Endpoint("GET", "/clients/me", "getMe", "Clients", "The calling client with its wallet",
             CLIENT, (200, "Client", JSON), errors={404: ("not_found",)},
             links=_wallet_links("$response.body#/wallet/id")),
    Endpoint("GET", "/wallets/{wallet_id}", "getWallet", "Wallets", "A wallet's balance and version",
             EITHER, (200, "Wallet", JSON), errors={404: ("wallet_not_found",)},
             description="Another client's wallet is 404, exactly like one that does not exist."),
    Endpoint("POST", "/wallets/{wallet_id}/deposits", "createDeposit", "Wallets",
             "Top a wallet up (operator only)", OPERATOR, (201, "Deposit", JSON),
             body="deposit_create", idempotent=True,
             errors={404: ("wallet_not_found",), 422: ("limit_exceeded",)},
             links={"GetWallet": _link("getWallet", wallet_id="$response.body#/wallet_id"),
                    "TransferFromWallet": _link("createTransfer",
                                                {"from_wallet_id": "$response.body#/wallet_id"})}),
    Endpoint("GET", "/wallets/{wallet_id}/operations", "listOperations", "Wallets",
             "The wallet's journal, newest first, a page at a time", EITHER,
             (200, "OperationPage", JSON), query=("limit", "after"),
             errors={400: ("validation_failed", "invalid_cursor"), 404: ("wallet_not_found",)}),
    Endpoint("POST", "/transfers", "createTransfer", "Transfers",
             "Move money from one of the caller's wallets to any other wallet", CLIENT,
             (201, "Transfer", JSON), body="transfer_create", idempotent=True,
             errors={404: ("wallet_not_found",), 422: ("wallet_not_found", "accounts_must_be_different",
                                                       "insufficient_funds", "limit_exceeded")},
             links={"GetTransfer": _link("getTransfer", transfer_id="$response.body#/id"),
                    "GetSender": _link("getWallet", wallet_id="$response.body#/from_wallet_id"),
                    "ListSenderOperations": _link("listOperations",
                                                  wallet_id="$response.body#/from_wallet_id")},
             description="404 `wallet_not_found`: the caller owns no such `from` wallet. 422 "
                         "`wallet_not_found`: no such receiver. Refusals that depend on balances "
                         "are replayed for a repeated `Idempotency-Key`, so a retry never flips."),
    Endpoint("POST", "/transfer-batches", "createTransferBatch", "Transfers",
             "Post up to 1,000 transfers from the caller's wallets, atomic or independent", CLIENT,
             (201, "TransferBatch", JSON), body="transfer_batch_create", idempotent=True,
             errors={404: ("wallet_not_found",)},
             description="`atomic`: all items are posted or none is; the failing item carries its code, "
                         "every other `batch_failed`. `independent`: each item succeeds or fails on its "
                         "own merits with the codes of `POST /transfers`. A result per item, in request "
                         "order, 201 either way. Shape errors are a 400 for the whole request, pointing at "
                         "`/transfers/<index>/<field>`; a `from_wallet_id` that is not the caller's is a "
                         "404 for the whole request. The body may be up to 1 MiB. A replay of the "
                         "`Idempotency-Key` returns the same results."),
    Endpoint("GET", "/transfers/{transfer_id}", "getTransfer", "Transfers",
             "One transfer, for either party or the operator", EITHER, (200, "Transfer", JSON),
             errors={404: ("transfer_not_found",)}),
    Endpoint("POST", "/transfers/{transfer_id}/refunds", "createRefund", "Transfers",
             "Give back all or part of a transfer (its receiver, or the operator)", EITHER,
             (201, "Transfer", JSON), body="refund_create", idempotent=True,
             errors={404: ("transfer_not_found",), 422: ("not_refundable", "exceeds_refundable_amount",
                                                         "insufficient_funds")},
             links={"GetRefund": _link("getTransfer", transfer_id="$response.body#/id"),
                    "GetRefunded": _link("getTransfer", transfer_id="$response.body#/refund_of")},
             description="The refund is a new posted transfer from the original's receiver to its "
                         "payer, with `refund_of`. Without `amount`: all that is still refundable. "
                         "Refunds together never exceed the original (422 `exceeds_refundable_amount`). "
                         "A deposit or a refund cannot be refunded (422 `not_refundable`). The payer of "
                         "the original, like anyone else, gets 404 `transfer_not_found`."),
    Endpoint("POST", "/payment-requests", "createPaymentRequest", "Payment requests",
             "Ask another wallet for money, to one of the caller's wallets", CLIENT,
             (201, "PaymentRequest", JSON), body="payment_request_create", idempotent=True,
             errors={404: ("wallet_not_found",), 422: ("wallet_not_found", "accounts_must_be_different",
                                                       "service_limit_reached")},
             links={"GetPaymentRequest": _link("getPaymentRequest", request_id="$response.body#/id"),
                    "CancelPaymentRequest": _link("cancelPaymentRequest",
                                                  request_id="$response.body#/id")},
             description="No money is reserved. 404 `wallet_not_found`: the caller owns no such "
                         "`to_wallet_id`; 422 `wallet_not_found`: no such payer wallet. At most "
                         "`MAX_PENDING_REQUESTS_PER_PAYER` pending requests from one payee wallet to one "
                         "payer wallet (422 `service_limit_reached`)."),
    Endpoint("GET", "/payment-requests", "listPaymentRequests", "Payment requests",
             "The caller's payment requests, newest first, a page at a time", CLIENT,
             (200, "PaymentRequestPage", JSON), query=("role", "request_status", "limit", "after"),
             errors={400: ("validation_failed", "invalid_cursor")}),
    Endpoint("GET", "/payment-requests/{request_id}", "getPaymentRequest", "Payment requests",
             "One payment request, for either party or the operator", EITHER,
             (200, "PaymentRequest", JSON), errors={404: ("payment_request_not_found",)}),
    Endpoint("POST", "/payment-requests/{request_id}/approve", "approvePaymentRequest",
             "Payment requests", "The payer pays the request: the transfer it made", CLIENT,
             (201, "Transfer", JSON), idempotent=True,
             errors={404: ("payment_request_not_found",), 409: ("payment_request_not_pending",),
                     422: ("insufficient_funds",)},
             links={"GetTransfer": _link("getTransfer", transfer_id="$response.body#/id")},
             description="The transfer and the request's change to `paid` are one unit of work. "
                         "403: the caller is the payee. Short of money: 422 `insufficient_funds` and "
                         "the request stays pending."),
    Endpoint("POST", "/payment-requests/{request_id}/decline", "declinePaymentRequest",
             "Payment requests", "The payer refuses the request", CLIENT, (200, "PaymentRequest", JSON),
             errors={404: ("payment_request_not_found",), 409: ("payment_request_not_pending",)},
             description="403: the caller is the payee."),
    Endpoint("POST", "/payment-requests/{request_id}/cancel", "cancelPaymentRequest",
             "Payment requests", "The payee withdraws the request", CLIENT, (200, "PaymentRequest", JSON),
             errors={404: ("payment_request_not_found",), 409: ("payment_request_not_pending",)},
             description="403: the caller is the payer."),
    Endpoint("POST", "/holds", "createHold", "Holds",
             "Reserve money of one of the caller's wallets for another wallet", CLIENT,
             (201, "Hold", JSON), body="hold_create", idempotent=True,
             errors={404: ("wallet_not_found",), 422: ("wallet_not_found", "accounts_must_be_different",
                                                       "insufficient_funds", "limit_exceeded")},
             links=_hold_links(),
             description="The payer's `held` grows by the amount and its `available` shrinks; its "
                         "`balance` does not change. `expires_in_s`: 1 to 2592000, default 604800 "
                         "(7 days). From `expires_at` on the hold reads `expired` and its money is "
                         "available again, whether or not the sweeper has run."),
    Endpoint("POST", "/holds/{hold_id}/capture", "captureHold", "Holds",
             "Pay part or all of what remains of a hold to its receiver", EITHER,
             (200, "Hold", JSON), body="hold_capture", idempotent=True,
             errors={403: ("forbidden",), 404: ("hold_not_found",), 409: ("hold_not_pending",),
                     422: ("exceeds_hold_amount", "limit_exceeded")},
             links=_hold_links(),
             description="The receiver or the operator (the payer: 403). A capture is a posted "
                         "transfer payer -> receiver carrying the hold's id; the payer's `held` drops "
                         "by the amount. Without `amount`, all that remains; `final: true` releases "
                         "whatever remains. Refusals are replayed for a repeated `Idempotency-Key`."),
    Endpoint("POST", "/holds/{hold_id}/void", "voidHold", "Holds",
             "Release what remains of a hold to its payer", EITHER, (200, "Hold", JSON),
             idempotent=True,
             errors={403: ("forbidden",), 404: ("hold_not_found",), 409: ("hold_not_pending",)},
             links=_hold_links(),
             description="The receiver or the operator; the payer cannot void (403), or escrow "
                         "would mean nothing."),
    Endpoint("GET", "/holds/{hold_id}", "getHold", "Holds",
             "One hold, for either party or the operator", EITHER, (200, "Hold", JSON),
             errors={404: ("hold_not_found",)}),
    Endpoint("GET", "/wallets/{wallet_id}/holds", "listHolds", "Holds",
             "The holds a wallet pays or receives, newest first, a page at a time", EITHER,
             (200, "HoldPage", JSON), query=("status", "limit", "after"),
             errors={400: ("validation_failed", "invalid_cursor"), 404: ("wallet_not_found",)},
             description="`status` filters as holds read now: a pending hold past `expires_at` "
                         "is `expired`."),
    Endpoint("GET", "/wallets/{wallet_id}/report", "getStatement", "Wallets",
             "A wallet's statement for a period, streamed as JSON, CSV or XML", EITHER,
             (200, "Statement", (JSON, CSV, XML)), query=("format", "from", "to"),
             errors={400: ("validation_failed",), 404: ("wallet_not_found",), 406: ("not_acceptable",)},
             description="The period is [from, to). Without `format`, `Accept` chooses (JSON when it "
                         "names none). The statement is fixed at the wallet's version when the request "
                         "starts; opening balance + in - out = closing balance. Sent as an attachment "
                         "(`Content-Disposition`)."),
    Endpoint("GET", "/wallets/{wallet_id}/balance", "getBalanceAsOf", "Wallets",
             "A wallet's posted balance as of a moment or a journal position", EITHER,
             (200, "BalanceAsOf", JSON), query=("at", "seq"),
             errors={400: ("validation_failed",), 404: ("wallet_not_found",)},
             description="Exactly one of `at` and `seq`. The balance right after the last journal "
                         "entry at or before `at` (an entry of that very millisecond counts) or "
                         "`seq`; `\"0.00\"` and seq 0 before the first. The cut is the statement's: "
                         "the same number opens the statement from `at` plus 1 ms."),
    Endpoint("GET", "/wallets/{wallet_id}/limits", "getLimits", "Wallets",
             "A wallet's limits, today's usage (UTC) and what is left", EITHER,
             (200, "LimitsStatus", JSON), errors={404: ("wallet_not_found",)}),
    Endpoint("PUT", "/wallets/{wallet_id}/limits", "putLimits", "Wallets",
             "Set a wallet's limits (operator only)", OPERATOR, (200, "Limits", JSON),
             body="limits_update", errors={404: ("wallet_not_found",)},
             description="A field left out keeps its value; `null` removes that limit. Debits "
                         "and credits that would pass a limit are 422 `limit_exceeded`, with "
                         "`limit` and `remaining` in the problem."),
    Endpoint("GET", "/events", "listEvents", "Events",
             "Events, oldest first: the caller's wallet's (the operator: all)", EITHER,
             (200, "EventPage", JSON), query=("limit", "after", "type"),
             errors={400: ("validation_failed", "invalid_cursor")},
             description="Resume with `after` = the last page's `next_cursor`. The feed serves events "
                         "older than a settle window (`EVENTS_SETTLE_MS`), so an event that commits "
                         "late is never passed by a cursor. Kept at least 30 days "
                         "(docs/features/events.md)."),
    Endpoint("POST", "/webhook-endpoints", "createWebhookEndpoint", "Events",
             "Register a URL that receives events, signed (Standard Webhooks)", EITHER,
             (201, "WebhookEndpoint", JSON), body="webhook_endpoint_create",
             errors={409: ("too_many_webhook_endpoints",), 422: ("webhook_url_not_allowed",)},
             links={"GetWebhookEndpoint": _link("getWebhookEndpoint", endpoint_id="$response.body#/id"),
                    "ListDeliveries": _link("listDeliveries", endpoint_id="$response.body#/id")},
             description="`secret` is in this answer only. A client's endpoint receives the events of "
                         "its own wallet. The URL must be https and resolve to public addresses "
                         "only, an IPv6 address judged by the IPv4 address it carries too "
                         "(`WEBHOOK_ALLOW_PRIVATE=1` lifts that); its port must be 443 (and 80 for "
                         "http) unless `WEBHOOK_ALLOWED_PORTS` lists others."),
    Endpoint("GET", "/webhook-endpoints", "listWebhookEndpoints", "Events",
             "The caller's webhook endpoints", EITHER, (200, "WebhookEndpointList", JSON)),
    Endpoint("GET", "/webhook-endpoints/{endpoint_id}", "getWebhookEndpoint", "Events",
             "One of the caller's webhook endpoints (no secret)", EITHER, (200, "WebhookEndpoint", JSON),
             errors={404: ("webhook_endpoint_not_found",)}),
    Endpoint("DELETE", "/webhook-endpoints/{endpoint_id}", "deleteWebhookEndpoint", "Events",
             "Delete a webhook endpoint: nothing more is sent to it", EITHER,
             (200, "WebhookEndpoint", JSON), errors={404: ("webhook_endpoint_not_found",)}),
    Endpoint("GET", "/webhook-endpoints/{endpoint_id}/deliveries", "listDeliveries", "Events",
             "The endpoint's latest deliveries: attempts, status codes, next attempt", EITHER,
             (200, "DeliveryList", JSON), errors={404: ("webhook_endpoint_not_found",)}),
    Endpoint("POST", "/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry", "retryDelivery",
             "Events", "Send a delivery again now", EITHER, (202, "Delivery", JSON),
             errors={404: ("webhook_endpoint_not_found", "delivery_not_found"),
                     409: ("delivery_in_progress",)},
             description="Any state but one a dispatcher holds right now (409). Receivers dedupe by "
                         "`webhook-id`."),
    Endpoint("GET", "/audit", "getAudit", "Service", "Whether the books balance (operator only)",
             OPERATOR, (200, "Audit", JSON), errors={503: ("snapshot_too_old",)},
             description="Every audit rule over all wallets, the journal and the transfers, read at "
                         "one moment. 200 also when `ok` is false. On MongoDB the walk must end "
                         "within the server's snapshot window (docs/architecture.md, "
                         "\"The audit on MongoDB\")."),
    Endpoint("POST", "/withdrawals", "createWithdrawal", "Withdrawals",
             "Pay money of one of the caller's wallets out to a bank account", CLIENT,
             (201, "Withdrawal", JSON), body="withdrawal_create", idempotent=True,
             errors={404: ("wallet_not_found",), 422: ("insufficient_funds", "limit_exceeded")},
             links=_withdrawal_links(),
             description="The amount is held at once (`available` shrinks, `balance` does not) and "
                         "the withdrawal is `pending` until the payout provider takes it "
                         "(`processing`), then `succeeded` (the money moves to the `payouts` system "
                         "account), `failed` (it is available again) and, after a success, perhaps "
                         "`returned` (it comes back as a new entry). With the `sandbox` provider an "
                         "`account` starting with `fail` fails (`sandbox_declined`) and one starting "
                         "with `return` is returned a few seconds after it succeeded."),
    Endpoint("POST", "/withdrawals/{withdrawal_id}/settle", "settleWithdrawal", "Withdrawals",
             "Record how the provider settled a withdrawal (operator only)", OPERATOR,
             (200, "Withdrawal", JSON), body="withdrawal_settle", idempotent=True,
             errors={404: ("withdrawal_not_found",), 409: ("invalid_withdrawal_transition",)},
             links=_withdrawal_links(),
             description="`succeeded` and `failed` follow `processing`; `returned` follows "
                         "`succeeded`; any other step is 409 `invalid_withdrawal_transition` (replayed "
                         "for a repeated `Idempotency-Key`). `provider_reference` replaces the stored "
                         "one; `failure_reason` is kept on a failure."),
    Endpoint("GET", "/withdrawals/{withdrawal_id}", "getWithdrawal", "Withdrawals",
             "One withdrawal, for its owner or the operator", EITHER, (200, "Withdrawal", JSON),
             errors={404: ("withdrawal_not_found",)}),
    Endpoint("GET", "/wallets/{wallet_id}/withdrawals", "listWithdrawals", "Withdrawals",
             "A wallet's withdrawals, newest first, a page at a time", EITHER,
             (200, "WithdrawalPage", JSON), query=("withdrawal_status", "limit", "after"),
             errors={400: ("validation_failed", "invalid_cursor"), 404: ("wallet_not_found",)}),
    Endpoint("GET", "/system-accounts", "listSystemAccounts", "Service",
             "The system accounts and their balances (operator only)", OPERATOR,
             (200, "SystemAccountList", JSON),
             description="`bank`: money enters here (a deposit is a transfer bank -> wallet), so its "
                         "balance is minus the money clients hold. `payouts`: money that left. Each "
                         "is the sum of its shard documents (docs/architecture.md)."),
    Endpoint("GET", "/health", "getHealth", "Service", "Liveness, and which engine holds the data",
             PUBLIC, (200, "Health", JSON), storage=False),
    Endpoint("GET", "/ready", "getReady", "Service", "Readiness: the database answers a ping",
             PUBLIC, (200, "Ready", JSON), errors={503: ("not_ready",)}, storage=False),
    Endpoint("GET", "/metrics", "getMetrics", "Service", "Prometheus metrics of this process",
             PUBLIC, (200, None, PROMETHEUS), storage=False),
    Endpoint("GET", "/openapi.json", "getOpenApi", "Service", "This OpenAPI 3.1 document",
             PUBLIC, (200, None, JSON), storage=False),
    Endpoint("GET", "/docs/", "getDocs", "Service", "Swagger UI for this document (`/docs` redirects here)",
             PUBLIC, (200, None, HTML), storage=False),
    Endpoint("POST", "/wallets/{wallet_id}/balance-monitors", "createBalanceMonitor", "Wallets",
             "Watch a wallet's balance or available money cross a line", EITHER,
             (201, "BalanceMonitor", JSON), body="balance_monitor_create",
             errors={404: ("wallet_not_found",), 422: ("service_limit_reached",)},
             description="One `balance_monitor.triggered` event, in the unit of the movement, each time a "
                         "movement makes the condition true; again only after it was false in between. "
                         "At most 10 per wallet. The operator, or the wallet's owner."),
    Endpoint("GET", "/wallets/{wallet_id}/balance-monitors", "listBalanceMonitors", "Wallets",
             "A wallet's balance monitors", EITHER, (200, "BalanceMonitorList", JSON),
             errors={404: ("wallet_not_found",)}),
    Endpoint("GET", "/wallets/{wallet_id}/balance-monitors/{monitor_id}", "getBalanceMonitor", "Wallets",
             "One balance monitor", EITHER, (200, "BalanceMonitor", JSON),
             errors={404: ("wallet_not_found", "balance_monitor_not_found")}),
    Endpoint("DELETE", "/wallets/{wallet_id}/balance-monitors/{monitor_id}", "deleteBalanceMonitor",
             "Wallets", "Stop a balance monitor", EITHER, (200, "BalanceMonitor", JSON),
             errors={404: ("wallet_not_found", "balance_monitor_not_found")}),
    Endpoint("POST", "/tenants", "createTenant", "Tenants", "A new tenant with its first API key",
             PLATFORM, (201, "TenantCreated", JSON), body="tenant_create",
             description="The key's `secret` is shown in this answer only; its scopes are `*`. "
                         "Service limits and the rate limit default to the deployment's "
                         "(`TENANT_SERVICE_LIMITS`, `TENANT_RATE_LIMIT`)."),
    Endpoint("GET", "/tenants", "listTenants", "Tenants", "Every tenant, in id order, a page at a time",
             PLATFORM, (200, "TenantPage", JSON), query=("limit", "after"),
             errors={400: ("validation_failed", "invalid_cursor")}),
    Endpoint("GET", "/tenants/{tenant_id}", "getTenant", "Tenants", "One tenant",
             PLATFORM, (200, "Tenant", JSON), errors={404: ("tenant_not_found",)}),
    Endpoint("PATCH", "/tenants/{tenant_id}", "updateTenant", "Tenants",
             "Rename, suspend or reactivate a tenant, or change its limits",
             PLATFORM, (200, "Tenant", JSON), body="tenant_update", errors={404: ("tenant_not_found",)},
             description="A suspended tenant's keys and clients may read but not change anything "
                         "(403 `tenant_suspended`); the platform operator still may. A change reaches "
                         "every worker within `TENANT_CACHE_S`."),
    Endpoint("POST", "/api-keys", "createApiKey", "Tenants", "A new API key of the tenant",
             OPERATOR, (201, "ApiKeyCreated", JSON), body="api_key_create",
             errors={422: ("service_limit_reached",)},
             description="The `secret` is shown in this answer only; only its hash is stored."),
    Endpoint("GET", "/api-keys", "listApiKeys", "Tenants", "The tenant's active API keys (no secrets)",
             OPERATOR, (200, "ApiKeyList", JSON)),
    Endpoint("DELETE", "/api-keys/{key_id}", "revokeApiKey", "Tenants", "Revoke an API key at once",
             OPERATOR, (200, "ApiKey", JSON), errors={404: ("api_key_not_found",)}),
    Endpoint("GET", "/admin-log", "listAdminLog", "Tenants",
             "Administrative actions, newest first, a page at a time",
             OPERATOR, (200, "AdminLogPage", JSON), query=("admin_action", "limit", "after"),
             errors={400: ("validation_failed", "invalid_cursor")},
             description="A tenant's key (scope `audit:read`) reads its tenant's; the platform "
                         "operator reads every tenant's, or one tenant's with `X-Tenant-ID`."),
)


def _metadata_endpoint(path, operation_id, tag, thing, title, not_found, who_acts, two_parties=True):
    """PATCH of an object's metadata; ``two_parties``: the other party sees it but may not change it."""
    return Endpoint("PATCH", path, operation_id, tag, f"Merge into {thing}'s metadata", EITHER,
                    (200, title, JSON), body="metadata_update",
                    errors={**({403: ("forbidden",)} if two_parties else {}), 404: (not_found,)},
                    description=f"A key set to a string is set, a key set to null is removed, the "
                                f"others stay; at most 50 keys once merged. {who_acts} or the operator "
                                "may change it" + (" (403 for the other party, 404 for anyone else)."
                                                   if two_parties else " (404 for anyone else)."))


ENDPOINTS += (
    _metadata_endpoint("/transfers/{transfer_id}", "updateTransferMetadata", "Transfers", "a transfer",
                       "Transfer", "transfer_not_found", "Its sender"),
    _metadata_endpoint("/holds/{hold_id}", "updateHoldMetadata", "Holds", "a hold", "Hold",
                       "hold_not_found", "Its payer"),
    _metadata_endpoint("/payment-requests/{request_id}", "updatePaymentRequestMetadata",
                       "Payment requests", "a payment request", "PaymentRequest",
                       "payment_request_not_found", "Its payee"),
    _metadata_endpoint("/withdrawals/{withdrawal_id}", "updateWithdrawalMetadata", "Withdrawals",
                       "a withdrawal", "Withdrawal", "withdrawal_not_found", "Its owner", False),
    _metadata_endpoint("/wallets/{wallet_id}", "updateWalletMetadata", "Wallets", "a wallet", "Wallet",
                       "wallet_not_found", "Its owner", False),
    _metadata_endpoint("/clients/{client_id}", "updateClientMetadata", "Clients", "a client", "Client",
                       "not_found", "The client itself", False),
)


ENDPOINTS += (
    Endpoint("GET", "/transfers", "searchTransfers", "Transfers",
             "Search transfers, newest first, a page at a time", EITHER, (200, "TransferPage", JSON),
             query=("search_wallet_id", "transfer_type", "counterparty_wallet_id", "min_amount",
                    "max_amount", "created_from", "created_to", "metadata", "limit", "after"),
             errors={400: ("validation_failed", "invalid_cursor"), 404: ("wallet_not_found",)},
             description="A client sees the transfers its own wallet pays or receives (`wallet_id` must "
                         "be its own: another is 404); the operator sees all, and `wallet_id` narrows to "
                         "one wallet's. Filters combine (all must hold); each search is served by an index "
                         "(docs/features/metadata-search-states.md)."),
)

# The wallet-state refusals (app/ledger/states.py) each money operation can meet.
STATE_REFUSALS = {
    "createDeposit": ("wallet_closed",), "createTransfer": ("wallet_frozen", "wallet_closed"),
    "createRefund": ("wallet_frozen", "wallet_closed"), "createPaymentRequest": ("wallet_closed",),
    "approvePaymentRequest": ("wallet_frozen", "wallet_closed"),
    "createHold": ("wallet_frozen", "wallet_closed"), "captureHold": ("wallet_closed",),
    "createWithdrawal": ("wallet_frozen", "wallet_closed"),
}


def _with_state_refusals(endpoint):
    codes = STATE_REFUSALS.get(endpoint.operation_id)
    if not codes:
        return endpoint
    return replace(endpoint, errors={**endpoint.errors, 422: (*endpoint.errors.get(422, ()), *codes)})


def _state_endpoint(verb, operation_id, summary, body, conflicts):
    return Endpoint("POST", f"/wallets/{{wallet_id}}/{verb}", operation_id, "Wallets", summary, OPERATOR,
                    (200, "Wallet", JSON), body=body,
                    errors={404: ("wallet_not_found",), 409: conflicts})


ENDPOINTS = tuple(_with_state_refusals(endpoint) for endpoint in ENDPOINTS) + (
    _state_endpoint("freeze", "freezeWallet", "Freeze a wallet: no money may leave it (operator only)",
                    "wallet_state_change", ("invalid_wallet_transition",)),
    _state_endpoint("unfreeze", "unfreezeWallet", "Make a frozen wallet active again (operator only)",
                    None, ("invalid_wallet_transition",)),
    _state_endpoint("close", "closeWallet", "Close an empty wallet for good (operator only)",
                    "wallet_state_change", ("invalid_wallet_transition", "wallet_not_empty")),
)


# The scope an API key needs: the resource (the path's first segment) and read or write.
_RESOURCE = {"clients": "clients", "wallets": "wallets", "transfers": "transfers",
             "transfer-batches": "transfers", "payment-requests": "payment_requests", "holds": "holds",
             "events": "events", "webhook-endpoints": "webhooks", "audit": "audit",
             "withdrawals": "withdrawals", "system-accounts": "audit", "api-keys": "api_keys",
             "admin-log": "audit"}
_SCOPE_OF_PATH = {("POST", "/wallets/{wallet_id}/deposits"): "deposits:write",
                  ("PUT", "/wallets/{wallet_id}/limits"): "limits:write",
                  ("GET", "/wallets/{wallet_id}/report"): "reports:read"}


def scope_of(endpoint):
    """The scope an API key needs for ``endpoint``; None where no key may call it or none is needed."""
    if endpoint.scope is not None:
        return endpoint.scope
    if endpoint.who in (PUBLIC, PLATFORM) and endpoint.path != "/clients":
        return None
    explicit = _SCOPE_OF_PATH.get((endpoint.method, endpoint.path))
    if explicit:
        return explicit
    resource = _RESOURCE.get(endpoint.path.split("/")[1])
    return None if resource is None else f"{resource}:{'read' if endpoint.method == 'GET' else 'write'}"


BY_ROUTE = {(endpoint.method, endpoint.path): endpoint for endpoint in ENDPOINTS}
# Every scope a key may hold ("*": all of them), from the endpoints themselves.
SCOPES = ("*",) + tuple(sorted({scope for scope in map(scope_of, ENDPOINTS) if scope}))
