"""One error hierarchy: status, stable snake_case code, title (no Flask here).

``app.web.problems`` renders these as application/problem+json (RFC 9457).
"""
PROBLEM_JSON = "application/problem+json"


class ApiError(Exception):
    """A refusal with an HTTP status and a stable snake_case code."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail=None, errors=None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors

    def facts(self):
        """Fields of the problem beyond RFC 9457's, kept with a replayed refusal too."""
        return {}

    def to_problem(self):
        body = {"type": f"/problems/{self.code}", "title": self.title, "status": self.status,
                "detail": self.detail, "code": self.code}
        body.update(self.facts())
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def _error(name, status, code, title):
    return type(name, (ApiError,), {"status": status, "code": code, "title": title})


ValidationFailed = _error("ValidationFailed", 400, "validation_failed", "The request is not valid")
MalformedJson = _error("MalformedJson", 400, "malformed_json", "The body is not valid JSON")
InvalidCursor = _error("InvalidCursor", 400, "invalid_cursor", "The pagination cursor is not valid")
InvalidIdempotencyKey = _error("InvalidIdempotencyKey", 400, "invalid_idempotency_key",
                               "The Idempotency-Key header is not valid")
Unauthenticated = _error("Unauthenticated", 401, "unauthenticated", "Authentication required")
InvalidCredentials = _error("InvalidCredentials", 401, "invalid_credentials",
                            "Email or password is wrong")
Forbidden = _error("Forbidden", 403, "forbidden", "Not allowed for this caller")
NotFound = _error("NotFound", 404, "not_found", "Not found")
WalletNotFound = _error("WalletNotFound", 404, "wallet_not_found", "Wallet not found")
TransferNotFound = _error("TransferNotFound", 404, "transfer_not_found", "Transfer not found")
PaymentRequestNotFound = _error("PaymentRequestNotFound", 404, "payment_request_not_found",
                                "Payment request not found")
HoldNotFound = _error("HoldNotFound", 404, "hold_not_found", "Hold not found")
WithdrawalNotFound = _error("WithdrawalNotFound", 404, "withdrawal_not_found", "Withdrawal not found")
MethodNotAllowed = _error("MethodNotAllowed", 405, "method_not_allowed", "Method not allowed")
NotAcceptable = _error("NotAcceptable", 406, "not_acceptable",
                       "None of the media types in Accept can be produced")
EmailTaken = _error("EmailTaken", 409, "email_taken", "Email already registered")
PaymentRequestNotPending = _error("PaymentRequestNotPending", 409, "payment_request_not_pending",
                                  "The payment request is no longer pending")
HoldNotPending = _error("HoldNotPending", 409, "hold_not_pending",
                        "The hold is no longer pending (captured, voided or expired)")
InvalidWithdrawalTransition = _error(
    "InvalidWithdrawalTransition", 409, "invalid_withdrawal_transition",
    "The withdrawal's state machine does not allow this step from its current status")
PayloadTooLarge = _error("PayloadTooLarge", 413, "payload_too_large", "The body is too large")
UnsupportedMediaType = _error("UnsupportedMediaType", 415, "unsupported_media_type",
                              "The body must be application/json")
AccountsMustBeDifferent = _error("AccountsMustBeDifferent", 422, "accounts_must_be_different",
                                 "A transfer needs two different wallets")
ReceiverNotFound = _error("ReceiverNotFound", 422, "wallet_not_found",
                          "The receiving wallet does not exist")
PayerNotFound = _error("PayerNotFound", 422, "wallet_not_found", "The paying wallet does not exist")
InsufficientFunds = _error("InsufficientFunds", 422, "insufficient_funds",
                           "The wallet balance is lower than the amount")
ExceedsRefundableAmount = _error("ExceedsRefundableAmount", 422, "exceeds_refundable_amount",
                                 "The refund is more than is left to refund of the transfer")
NotRefundable = _error("NotRefundable", 422, "not_refundable",
                       "Only a wallet-to-wallet transfer can be refunded")
ExceedsHoldAmount = _error("ExceedsHoldAmount", 422, "exceeds_hold_amount",
                           "The amount is more than remains of the hold")
WalletFrozen = _error("WalletFrozen", 422, "wallet_frozen",
                      "The wallet is frozen: no money may leave it")
WalletClosed = _error("WalletClosed", 422, "wallet_closed",
                      "The wallet is closed: no money may come in or leave it")
WalletNotEmpty = _error("WalletNotEmpty", 409, "wallet_not_empty",
                        "The wallet still holds money or has something pending")
InvalidWalletTransition = _error("InvalidWalletTransition", 409, "invalid_wallet_transition",
                                 "The wallet's state does not allow this change")
IdempotencyKeyReused = _error("IdempotencyKeyReused", 422, "idempotency_key_reused",
                              "This Idempotency-Key was used with a different request")


class LimitExceeded(ApiError):
    """A wallet limit would be passed: ``limit`` names it, ``remaining`` is what is left of it
    ("12.34", or a count for daily_out_count)."""

    status, code, title = 422, "limit_exceeded", "A limit of the wallet would be exceeded"

    def __init__(self, detail=None, limit="daily_out_amount", remaining="0.00"):
        super().__init__(detail)
        self.limit = limit
        self.remaining = remaining

    def facts(self):
        return {"limit": self.limit, "remaining": self.remaining}


def _naming(name, status, code, title, fact, default):
    """An error whose problem names one more ``fact`` (given as a keyword, else ``default``)."""
    def __init__(self, detail=None, **named):
        ApiError.__init__(self, detail)
        setattr(self, fact, named.get(fact, default))
    return type(name, (ApiError,), {"status": status, "code": code, "title": title, "__init__": __init__,
                                    "facts": lambda self: {fact: getattr(self, fact)}})


# A tenant's (or a wallet pair's, or a wallet's monitors') cap on live things: ``limit`` names it.
ServiceLimitReached = _naming("ServiceLimitReached", 422, "service_limit_reached",
                              "A service limit is reached", "limit", "max_pending_requests_per_payer")
# The API key lacks the scope the endpoint needs: ``scope`` names it.
InsufficientScope = _naming("InsufficientScope", 403, "insufficient_scope",
                            "The API key lacks a scope this endpoint needs", "scope", "*")
TenantSuspended = _error("TenantSuspended", 403, "tenant_suspended",
                         "The tenant is suspended: it may read, not change anything")
TenantNotFound = _error("TenantNotFound", 404, "tenant_not_found", "Tenant not found")
BalanceMonitorNotFound = _error("BalanceMonitorNotFound", 404, "balance_monitor_not_found",
                                "Balance monitor not found")
ApiKeyNotFound = _error("ApiKeyNotFound", 404, "api_key_not_found", "API key not found")
RateLimited = _error("RateLimited", 429, "rate_limited",
                     "Too many requests for this tenant; retry after Retry-After seconds")
DatabaseUnavailable = _error("DatabaseUnavailable", 503, "database_unavailable",
                             "The database cannot be reached; retry later")
OutcomeUnknown = _error("OutcomeUnknown", 503, "outcome_unknown",
                        "The commit's outcome is unknown; retry with the same Idempotency-Key")
WalletBusy = _error("WalletBusy", 503, "wallet_busy",
                    "A wallet in this request is busy; retry after Retry-After seconds")
IdempotencyStoreFull = _error(
    "IdempotencyStoreFull", 503, "idempotency_store_full",
    "This caller has as many unexpired Idempotency-Keys as the server keeps; retry after Retry-After seconds")
SnapshotTooOld = _error("SnapshotTooOld", 503, "snapshot_too_old",
                        "The audit took longer than the database keeps a snapshot")
InternalError = _error("InternalError", 500, "internal_error", "Internal server error")
NotReady = _error("NotReady", 503, "not_ready", "The database does not answer")

# Refusals that depend on stored state: recorded with an Idempotency-Key and replayed.
REPLAYED_REFUSALS = (
    ReceiverNotFound, PayerNotFound, InsufficientFunds, HoldNotPending, ExceedsHoldAmount,
    LimitExceeded, ServiceLimitReached, PaymentRequestNotPending, ExceedsRefundableAmount,
    InvalidWithdrawalTransition, WalletFrozen, WalletClosed)


def replayed_refusal(code, title=None):
    """The class of a recorded refusal: by code, and by title where two share a code
    (wallet_not_found: receiver or payer). A record made before titles were kept has none."""
    same_code = [cls for cls in REPLAYED_REFUSALS if cls.code == code]
    return next((cls for cls in same_code if cls.title == title), same_code[0])


WebhookEndpointNotFound = _error("WebhookEndpointNotFound", 404, "webhook_endpoint_not_found",
                                 "Webhook endpoint not found")
DeliveryNotFound = _error("DeliveryNotFound", 404, "delivery_not_found", "Delivery not found")
DeliveryInProgress = _error("DeliveryInProgress", 409, "delivery_in_progress",
                            "The delivery is being sent right now; retry later")
TooManyWebhookEndpoints = _error("TooManyWebhookEndpoints", 409, "too_many_webhook_endpoints",
                                 "The caller has as many webhook endpoints as allowed")
WebhookUrlNotAllowed = _error("WebhookUrlNotAllowed", 422, "webhook_url_not_allowed",
                              "The webhook URL is not allowed")
# The operators' console (app/console): a form without its session's CSRF token, and sign-in
# attempts past the rate one address is allowed.
CsrfRefused = _error("CsrfRefused", 403, "csrf_refused",
                     "The form has expired or did not come from this console")
RateLimited = _error("RateLimited", 429, "rate_limited", "Too many attempts; retry later")
