"""Who may see a console page: the session behind the cookie, its CSRF token, its scopes; and the
headers every console response carries."""
import functools
import hmac

from flask import current_app, g, redirect, render_template, request, url_for

from app import errors, render
from app.console import bp, sessions
from app.web import auth as web_auth
from app.money import format_cents

SESSION_COOKIE = "console_session"
PRE_SESSION_COOKIE = "console_pre_session"  # the sign-in form's CSRF token (double submit)
COOKIE_PATH = "/console"
# No inline script or style anywhere: every asset is a file under /console/static/.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
OPEN_ENDPOINTS = ("console.sign_in", "console.sign_in_submit", "console.static")


def set_cookie(response, name, value, max_age_s=None):
    """HttpOnly, SameSite=Strict, Secure when the request came over https, scoped to /console."""
    response.set_cookie(name, value, max_age=max_age_s, path=COOKIE_PATH, secure=request.is_secure,
                        httponly=True, samesite="Strict")


def clear_cookie(response, name):
    response.delete_cookie(name, path=COOKIE_PATH, secure=request.is_secure, httponly=True,
                           samesite="Strict")


def same_token(sent, expected):
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


@bp.before_request
def load_session():
    """Every page but sign-in needs a live session; every POST its CSRF token."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    store, auth = current_app.extensions["store"], current_app.extensions["auth"]
    record = sessions.find_session(store, request.cookies.get(SESSION_COOKIE))
    caller = None if record is None else auth.caller_for_session(store, record["actor"],
                                                                 record["credential_mark"])
    if caller is None:
        if record is not None:  # its credential is gone (a rotated token): end it for good
            sessions.end_session(store, record["_id"])
        if request.method == "GET":
            return redirect(url_for("console.sign_in"), 303)
        raise errors.Unauthenticated("the console session has ended; sign in again")
    g.console_session = record
    web_auth.bind(caller)  # the API's tenant rules: its books only; a suspended tenant reads only
    if request.method == "POST" and not same_token(request.form.get("csrf_token"), record["csrf_token"]):
        raise errors.CsrfRefused("reload the page and submit the form again")
    return None


def needs(scope):
    """Decorate a view: the signed-in caller must hold ``scope`` (403 otherwise)."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not g.caller.has_scope(scope):  # as the API refuses a key: 403 insufficient_scope
                raise errors.InsufficientScope(f"this page needs the scope {scope}", scope=scope)
            return view(*args, **kwargs)
        return wrapper
    return decorate


@bp.context_processor
def template_context():
    record = g.get("console_session")
    return {"csrf_token": record["csrf_token"] if record else None, "signed_in": record is not None,
            "actor": record["actor"] if record else None}


@bp.app_template_filter("money")
def money_filter(cents):
    return "" if cents is None else format_cents(cents)


@bp.app_template_filter("when")
def when_filter(moment):
    return "" if moment is None else render.timestamp(moment)


@bp.errorhandler(errors.ApiError)
def refused(error):
    """A refusal as a page: its title, detail and field errors, with its own status."""
    g.problem_code = error.code
    response = current_app.make_response((render_template(
        "console/error.html", error=error), error.status))
    response.headers.extend(getattr(error, "headers", None) or {})
    return response


@bp.route("/<path:unknown>")
def not_found(unknown):
    """An unknown console path: an HTML 404 like the rest of the console."""
    raise errors.NotFound(f"there is no console page {request.path}")


def secure_headers(response):
    if request.path == COOKIE_PATH or request.path.startswith(COOKIE_PATH + "/"):
        response.headers.update(HEADERS)
        if request.endpoint != "console.static":
            response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app):
    # On the app, not the blueprint: routing refusals (a 405) under /console/ get them too.
    app.after_request(secure_headers)
