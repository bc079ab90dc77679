"""Who is calling, in which tenant, and what they may do.

Three kinds of caller, each sent as ``Authorization: Bearer <secret>`` (or pasted into the
console's sign-in), each resolved by one function, ``Auth.caller_for_secret``:

- the platform operator (``OPERATOR_TOKEN``): every tenant's; acts in ``default`` unless
  ``X-Tenant-ID`` names another tenant (the header from anyone else: 403);
- an API key (app/ledger/api_keys.py): its tenant's operator, within its scopes;
- a client: a signed token (itsdangerous, HMAC-SHA256 with SECRET_KEY) that names the
  client and its tenant and expires after TOKEN_LIFETIME_S. Checking one costs no database
  read; the price: it cannot be revoked before it expires, except by rotating SECRET_KEY.

``required`` authenticates, settles the tenant (suspended? over its rate limit?), checks
the endpoint's scope (app/web/endpoints.py) and binds ``g.store`` to the caller's tenant
(app/storage/tenancy.py): the only store a view ever gets.
"""
import functools
import hashlib
import hmac
import re
import threading
import time
from dataclasses import dataclass

from flask import current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from app import errors
from app.ledger import api_keys
from app.storage.tenancy import DEFAULT_TENANT

PLATFORM, API_KEY, CLIENT, PUBLIC = "platform", "api_key", "client", "public"
TENANT_HEADER = "X-Tenant-ID"
READ_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
PLATFORM_ACTOR = {"type": PLATFORM, "id": "operator"}
_RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True)
class Caller:
    kind: str                      # PLATFORM, API_KEY, CLIENT or PUBLIC
    tenant_id: str
    client_id: str | None = None   # a client's
    key_id: str | None = None      # an API key's
    scopes: tuple = ("*",)

    @property
    def is_operator(self):
        """The platform operator or a tenant's API key: the tenant's operator."""
        return self.kind in (PLATFORM, API_KEY)

    @property
    def is_platform(self):
        return self.kind == PLATFORM

    @property
    def idempotency_scope(self):
        return "operator" if self.is_operator else f"client:{self.client_id}"

    @property
    def actor(self):
        """Who acts, as a session or the admin log records it: never a secret."""
        return {"type": self.kind, "id": self.key_id or ("operator" if self.is_platform else self.client_id)}

    def may(self, scope):
        return "*" in self.scopes or scope in self.scopes

    def may_read_wallet(self, wallet):
        return self.is_operator or wallet["client_id"] == self.client_id

    def has_scope(self, scope):
        """Whether the caller may do what ``scope`` (``resource:action``) names as an operator: the
        platform operator holds every scope, a key those it was made with, a client none."""
        return self.is_operator and self.may(scope)


def _key_caller(key):
    """The Caller an active API key document stands for: its tenant's operator, within its scopes."""
    return Caller(API_KEY, key["tenant_id"], key_id=key["_id"], scopes=tuple(key["scopes"]))


class RateLimiter:
    """A token bucket per tenant, in this process: each worker enforces its share."""

    def __init__(self, clock=time.monotonic):
        self._buckets, self._lock, self._clock = {}, threading.Lock(), clock

    def retry_after_s(self, tenant_id, limit):
        """0 if one more request fits now (and take it), else seconds until one does."""
        rate, burst = limit["requests_per_s"], limit["burst"]
        moment = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(tenant_id, (burst, moment))
            tokens = min(burst, tokens + (moment - last) * rate)
            if tokens >= 1:
                self._buckets[tenant_id] = (tokens - 1, moment)
                return 0
            self._buckets[tenant_id] = (tokens, moment)
            return (1 - tokens) / rate


class Auth:
    """Hashing and token checks, configured once per app."""

    def __init__(self, secret_key, operator_token, lifetime_s, hash_method):
        self._tokens = URLSafeTimedSerializer(secret_key, salt="access-token")
        self._operator_token = operator_token.encode()
        self._mark_key = hmac.new(secret_key.encode(), b"credential-mark", hashlib.sha256).digest()
        self.lifetime_s = lifetime_s
        self._hash_method = hash_method
        # Checked against when the email is unknown, so both 401s take as long.
        self._decoy_hash = generate_password_hash("decoy password", method=hash_method)

    def hash_password(self, password):
        return generate_password_hash(password, method=self._hash_method)

    def password_matches(self, password_hash, password):
        return check_password_hash(password_hash or self._decoy_hash, password) and bool(password_hash)

    def issue_token(self, client_id, tenant_id):
        return self._tokens.dumps({"sub": client_id, "ten": tenant_id})

    def caller_for_secret(self, across, secret):
        """The Caller a bearer secret stands for (the operator token, an API key, a client
        token); Unauthenticated if none. One answer for every wrong secret."""
        if hmac.compare_digest(secret.encode(), self._operator_token):
            return Caller(PLATFORM, DEFAULT_TENANT)
        if secret.startswith(api_keys.SECRET_PREFIX):
            key = api_keys.authenticate(across, secret)
            if key is None:
                raise errors.Unauthenticated("the token is invalid or has expired")
            return _key_caller(key)
        try:
            claims = self._tokens.loads(secret, max_age=self.lifetime_s)
        except BadSignature:
            raise errors.Unauthenticated("the token is invalid or has expired") from None
        subject = claims.get("sub") if isinstance(claims, dict) else None
        tenant_id = claims.get("ten", DEFAULT_TENANT) if isinstance(claims, dict) else None
        if not (isinstance(subject, str) and subject.startswith("cli_") and isinstance(tenant_id, str)):
            # Never issued here; and a subject of None would otherwise be the operator.
            raise errors.Unauthenticated("the token is invalid or has expired")
        return Caller(CLIENT, tenant_id, client_id=subject)

    def caller_for(self, across, authorization):
        """The Caller for an Authorization header value; Unauthenticated if none."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.Unauthenticated("send Authorization: Bearer <token>")
        return self.caller_for_secret(across, token.strip())

    def credential_mark(self, secret):
        """A keyed hash of a secret a session was opened with: kept instead of the secret, it ties
        the session to that secret (rotating OPERATOR_TOKEN ends the sessions opened with it)."""
        return hmac.new(self._mark_key, secret.encode(), hashlib.sha256).hexdigest()

    def caller_for_session(self, across, actor, mark):
        """The Caller a console session still stands for, or None when its credential is gone: the
        operator token it was opened with (rotated: gone), or an API key while it is not revoked."""
        if actor == PLATFORM_ACTOR and hmac.compare_digest(
                mark, self.credential_mark(self._operator_token.decode())):
            return Caller(PLATFORM, DEFAULT_TENANT)
        if actor.get("type") == API_KEY:
            key = across.read(lambda db: db.api_keys.find_one({"_id": actor.get("id"), "status": "active"}))
            if key is not None:
                return _key_caller(key)
        return None


def endpoint_scope():
    """The scope the matched route needs (app/web/endpoints.py), or None for none."""
    from app.web import endpoints
    rule = request.url_rule.rule if request.url_rule is not None else None
    path = _RULE_ARGUMENT.sub(r"{\1}", rule) if rule else None
    endpoint = endpoints.BY_ROUTE.get((request.method if request.method != "HEAD" else "GET", path))
    return None if endpoint is None else endpoints.scope_of(endpoint)


def bind(caller):
    """Settle the caller's tenant and bind ``g.caller`` and ``g.store`` (and, for the platform
    operator, ``g.platform``: every tenant's books, read-only)."""
    g.caller = caller  # set before the checks, so a refusal is logged with who was refused
    across = current_app.extensions["store"]
    wanted = request.headers.get(TENANT_HEADER)
    if wanted is not None:
        if not caller.is_platform:
            raise errors.Forbidden(f"only the platform operator may send {TENANT_HEADER}")
        caller = g.caller = Caller(PLATFORM, wanted)
    tenant = current_app.extensions["tenant_directory"].get(caller.tenant_id)
    if tenant is None:
        if caller.is_platform:
            raise errors.TenantNotFound(f"no tenant {caller.tenant_id}")
        raise errors.Unauthenticated("the token is invalid or has expired")
    if not caller.is_platform:
        limit = tenant.get("rate_limit")
        if limit:
            wait_s = current_app.extensions["rate_limiter"].retry_after_s(caller.tenant_id, limit)
            if wait_s:
                refusal = errors.RateLimited(f"tenant {caller.tenant_id} allows {limit['requests_per_s']} "
                                             f"requests a second (burst {limit['burst']}) per worker")
                refusal.headers = {"Retry-After": str(max(1, round(wait_s + 0.5)))}
                raise refusal
        if tenant["status"] == "suspended" and request.method not in READ_METHODS:
            raise errors.TenantSuspended(f"tenant {caller.tenant_id} is suspended")
    context = {"actor": caller.actor, "request_id": g.get("request_id")}
    g.store = across.tenant(caller.tenant_id, context)
    if caller.is_platform:
        g.platform = across.acting(context)
    return caller


def required(*, operator=True, client=True, platform_only=False):
    """Decorate a view: authenticate the caller, bind its tenant, check its kind and scope."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            across = current_app.extensions["store"]
            caller = current_app.extensions["auth"].caller_for(across, request.headers.get("Authorization"))
            if platform_only and not caller.is_platform:
                g.caller = caller
                raise errors.Forbidden("this endpoint is for the platform operator only")
            caller = bind(caller)
            if (caller.is_operator and not operator) or (not caller.is_operator and not client):
                raise errors.Forbidden("this endpoint is for the "
                                       + ("operator" if operator else "clients") + " only")
            check_scope(caller)
            return view(*args, **kwargs)
        return wrapper
    return decorate


def check_scope(caller):
    scope = endpoint_scope()
    if caller.kind == API_KEY and scope is not None and not caller.may(scope):
        raise errors.InsufficientScope(f"this API key lacks the scope {scope}", scope=scope)


def optional(view):
    """Decorate a public view that a tenant's operator may also call (sign-up): without an
    Authorization header it acts in the default tenant as the public."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if request.headers.get("Authorization") is None and request.headers.get(TENANT_HEADER) is None:
            bind(Caller(PUBLIC, DEFAULT_TENANT))
        else:
            across = current_app.extensions["store"]
            caller = current_app.extensions["auth"].caller_for(across, request.headers.get("Authorization"))
            if caller.kind == CLIENT:  # a client signing someone up is the public, in its tenant
                caller = Caller(PUBLIC, caller.tenant_id)
            check_scope(bind(caller))
        return view(*args, **kwargs)
    return wrapper


def public_in(tenant_id):
    """Bind a public caller (log-in) to ``tenant_id``; an unknown tenant finds nobody. Log-in is
    a read: a suspended tenant's clients may still log in and read."""
    g.caller = Caller(PUBLIC, tenant_id)
    g.store = current_app.extensions["store"].tenant(tenant_id, {"actor": g.caller.actor,
                                                                 "request_id": g.get("request_id")})


def init_app(app):
    import json
    from app.ledger import tenants
    app.extensions["auth"] = Auth(app.config["SECRET_KEY"], app.config["OPERATOR_TOKEN"],
                                  app.config["TOKEN_LIFETIME_S"], app.config["PASSWORD_HASH_METHOD"])
    app.extensions["rate_limiter"] = RateLimiter()
    limits, rate = (value if isinstance(value, dict) else json.loads(value) for value in (
        app.config["TENANT_SERVICE_LIMITS"], app.config["TENANT_RATE_LIMIT"]))
    app.extensions["tenant_directory"] = tenants.Directory(
        app.extensions["store"], app.config["TENANT_CACHE_S"], limits, rate)


def service_limit(name):
    """The caller's tenant's service limit ``name`` (its own, else the deployment's default)."""
    return current_app.extensions["tenant_directory"].service_limit(g.caller.tenant_id, name)
