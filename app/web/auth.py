"""Who is calling: password hashes, client bearer tokens, the operator token.

Every secret a caller presents (an API request's bearer token, a secret pasted into the
console's sign-in) is resolved by one function, ``Auth.caller_for_secret``: the place where
tenant API keys (issue 25) join the operator token and client tokens.

Client tokens are signed (itsdangerous, HMAC-SHA256 with SECRET_KEY) and expire
after TOKEN_LIFETIME_S: checking one costs no database read, and any worker
can check any token. The price: a token cannot be revoked before it expires,
except by rotating SECRET_KEY, which ends every session.
"""
import functools
import hashlib
import hmac
from dataclasses import dataclass

from flask import current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from app import errors


@dataclass(frozen=True)
class Caller:
    client_id: str | None  # None for the operator

    @property
    def is_operator(self):
        return self.client_id is None

    @property
    def idempotency_scope(self):
        return "operator" if self.is_operator else f"client:{self.client_id}"

    def may_read_wallet(self, wallet):
        return self.is_operator or wallet["client_id"] == self.client_id

    @property
    def actor(self):
        """Who acts, as a session or a log records it: never a secret."""
        return {"type": "platform", "id": "operator"} if self.is_operator else \
            {"type": "client", "id": self.client_id}

    def has_scope(self, scope):
        """Whether the caller may do what ``scope`` (``resource:action``) names as an operator.

        Today only the operator token holds every scope; tenant API keys (issue 25) will hold
        the scopes they were made with. A client token holds none: it acts on its own wallet only.
        """
        return self.is_operator


OPERATOR = Caller(None)


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

    def issue_token(self, client_id):
        return self._tokens.dumps({"sub": client_id})

    def caller_for(self, authorization):
        """The Caller for an Authorization header value; Unauthenticated if none."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.Unauthenticated("send Authorization: Bearer <token>")
        return self.caller_for_secret(token.strip())

    def caller_for_secret(self, token):
        """The Caller a presented secret stands for; Unauthenticated (no hint why) if none.

        TODO(issue 25): tenant API keys are looked up here (by the hash of the secret), so the
        API's bearer auth and the console's sign-in learn them in one place.
        """
        if hmac.compare_digest(token.encode(), self._operator_token):
            return OPERATOR
        try:
            claims = self._tokens.loads(token, max_age=self.lifetime_s)
        except BadSignature:
            raise errors.Unauthenticated("the token is invalid or has expired") from None
        subject = claims.get("sub") if isinstance(claims, dict) else None
        if not (isinstance(subject, str) and subject.startswith("cli_")):
            # Never issued here; and a subject of None would otherwise be the operator.
            raise errors.Unauthenticated("the token is invalid or has expired")
        return Caller(subject)

    def credential_mark(self, secret):
        """A keyed hash of a secret a session was opened with: kept instead of the secret, it ties
        the session to that secret (rotating OPERATOR_TOKEN ends the sessions opened with it)."""
        return hmac.new(self._mark_key, secret.encode(), hashlib.sha256).hexdigest()

    def caller_for_session(self, actor, mark):
        """The Caller a console session still stands for, or None when its credential is gone.

        TODO(issue 25): an ``api_key`` actor is the key of that id while it is not revoked.
        """
        if actor == OPERATOR.actor and hmac.compare_digest(
                mark, self.credential_mark(self._operator_token.decode())):
            return OPERATOR
        return None


def required(*, operator=True, client=True):
    """Decorate a view: authenticate the caller into ``g.caller`` and check its kind."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            caller = current_app.extensions["auth"].caller_for(request.headers.get("Authorization"))
            g.caller = caller  # set before the check, so a 403 is logged with who was refused
            if (caller.is_operator and not operator) or (not caller.is_operator and not client):
                raise errors.Forbidden("this endpoint is for the "
                                       + ("operator" if operator else "clients") + " only")
            return view(*args, **kwargs)
        return wrapper
    return decorate


def init_app(app):
    app.extensions["auth"] = Auth(app.config["SECRET_KEY"], app.config["OPERATOR_TOKEN"],
                                  app.config["TOKEN_LIFETIME_S"], app.config["PASSWORD_HASH_METHOD"])
