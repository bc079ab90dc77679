"""The operators' console: server-rendered pages at /console/ over the same ledger functions as
the API (docs/features/console.md). No Flask session, no front-end build, no asset from outside.

- ``guard``: sessions from the cookie, CSRF on every POST, scopes, security headers.
- ``signin``: sign-in with the operator token (later an API key), sign-out.
- ``pages``: the pages (overview, search, wallet, withdrawals, deliveries).
- ``actions``: the forms that change something (deposit, limits, settle, retry).
- ``forms``: form fields -> the API's request documents, checked by the API's own schemas.
"""
from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")


def init_app(app):
    from app.console import actions, guard, pages, signin  # noqa: F401  (their routes join bp)
    from app.web.ratelimit import RateLimiter
    app.extensions["console_sign_in_limiter"] = RateLimiter(
        app.config["CONSOLE_SIGN_IN_PER_MINUTE"], app.config["CONSOLE_SIGN_IN_BURST"])
    app.register_blueprint(bp)
    guard.init_app(app)
