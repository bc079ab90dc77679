"""Sign-in with a pasted secret, resolved by the API's own ``Auth.caller_for_secret``; sign-out."""
from flask import current_app, g, redirect, render_template, request, url_for

from app import errors
from app.console import bp, guard, sessions
from app.console.forms import new_key

# The same answer for a wrong secret, a client's token and a caller without the console's
# scopes: nothing tells which part was wrong.
REFUSAL = "That secret does not open the console."
MAX_SECRET = 4096


def sign_in_form(status=200, error=None):
    token = new_key()
    response = current_app.make_response((render_template(
        "console/sign_in.html", pre_session_token=token, error=error), status))
    guard.set_cookie(response, guard.PRE_SESSION_COOKIE, token)
    return response


@bp.get("/sign-in")
def sign_in():
    """The sign-in form (a live session goes straight to the overview)."""
    record = sessions.find_session(current_app.extensions["store"],
                                   request.cookies.get(guard.SESSION_COOKIE))
    if record is not None:
        return redirect(url_for("console.overview"), 303)
    return sign_in_form()


@bp.post("/sign-in")
def sign_in_submit():
    """Check the pasted secret; on success a new session, its token in an HttpOnly cookie only."""
    allowed, retry_after_s = current_app.extensions["console_sign_in_limiter"].allow(request.remote_addr)
    if not allowed:
        refusal = errors.RateLimited(f"too many sign-in attempts; retry in {retry_after_s} s")
        refusal.headers = {"Retry-After": str(retry_after_s)}
        raise refusal
    if not guard.same_token(request.form.get("csrf_token"), request.cookies.get(guard.PRE_SESSION_COOKIE)):
        raise errors.CsrfRefused("reload the sign-in page and try again")
    secret, auth = request.form.get("secret", "").strip(), current_app.extensions["auth"]
    try:
        caller = auth.caller_for_secret(current_app.extensions["store"], secret) \
            if 0 < len(secret) <= MAX_SECRET else None
    except errors.Unauthenticated:
        caller = None
    if caller is None or not caller.has_scope("wallets:read"):
        g.problem_code = "invalid_credentials"
        return sign_in_form(401, REFUSAL)
    g.caller = caller
    token, _ = sessions.open_session(current_app.extensions["store"], caller.actor,
                                     auth.credential_mark(secret), current_app.config["CONSOLE_SESSION_S"],
                                     caller.tenant_id)
    # A key without audit:read may not see the overview: it starts at the search instead.
    first = "console.overview" if caller.has_scope("audit:read") else "console.search"
    response = redirect(url_for(first), 303)
    guard.set_cookie(response, guard.SESSION_COOKIE, token, current_app.config["CONSOLE_SESSION_S"])
    guard.clear_cookie(response, guard.PRE_SESSION_COOKIE)
    return response


@bp.get("/sign-out")
def sign_out():
    """A page with the sign-out button (signing out is a POST, with the session's CSRF token)."""
    return render_template("console/sign_out.html")


@bp.post("/sign-out")
def sign_out_submit():
    """End the session on the server and drop the cookie."""
    sessions.end_session(current_app.extensions["store"], g.console_session["_id"])
    response = redirect(url_for("console.sign_in"), 303)
    guard.clear_cookie(response, guard.SESSION_COOKIE)
    return response
