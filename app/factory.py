"""``create_app()``: wires config, storage, errors and routes into one Flask app."""
import json
import logging
import secrets

from flask import Flask
from flask.sessions import SessionInterface

from config import Config


class _NoSessions(SessionInterface):
    """A bearer-token API keeps no cookie session: skip signing one on every request."""

    def open_session(self, app, request):
        return None

    def save_session(self, app, session, response):
        return None


def _settle_secrets(app):
    """Embedded: generate missing secrets. MongoDB: refuse to start without them."""
    missing = [name for name in ("SECRET_KEY", "OPERATOR_TOKEN") if not app.config.get(name)]
    if missing and app.config["MONGO_URI"]:
        raise RuntimeError(f"set {' and '.join(missing)} in the environment: they are required "
                           "with MONGO_URI (data outlives the process, so secrets must too)")
    if "SECRET_KEY" in missing:
        app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
    if "OPERATOR_TOKEN" in missing:
        # Never printed here: create_app also runs for console commands and scripts, whose
        # output lands in logs. gunicorn.conf.py generates and shows one to whoever starts
        # the server; any other process gets one nobody knows (set OPERATOR_TOKEN to choose).
        app.config["OPERATOR_TOKEN"] = secrets.token_urlsafe(32)


def _settle_default_limits(app):
    """DEFAULT_LIMITS (a JSON text or a dict) as stored on new wallets; refuse to start if bad."""
    from app.ledger import limits
    document = app.config.get("DEFAULT_LIMITS") or {}
    try:
        if isinstance(document, str):
            document = json.loads(document)
        app.extensions["default_limits"] = limits.defaults(document)
    except (ValueError, AttributeError) as exc:
        raise RuntimeError(f"DEFAULT_LIMITS is not valid: {exc}") from None


def _settle_webhook_ports(app):
    """WEBHOOK_ALLOWED_PORTS (text, or None for the default) parsed once; refuse to start if bad."""
    from app.events import outbound
    text = app.config.get("WEBHOOK_ALLOWED_PORTS")
    try:
        app.config["WEBHOOK_ALLOWED_PORTS"] = None if text is None else outbound.parse_ports(text)
    except ValueError as exc:
        raise RuntimeError(f"WEBHOOK_ALLOWED_PORTS is not valid: {exc}") from None


def _settle_withdrawals(app):
    """The provider new withdrawals go to; the payout steps, every provider bound, join the dispatcher."""
    from app.ledger import providers, withdrawals
    chosen = app.config["WITHDRAWAL_PROVIDER"] or ("manual" if app.config["MONGO_URI"] else "sandbox")
    if chosen not in providers.PROVIDERS:
        raise RuntimeError(f"WITHDRAWAL_PROVIDER is {chosen!r}; it must be one of "
                           f"{', '.join(providers.PROVIDERS)}")
    app.config["WITHDRAWAL_PROVIDER"] = chosen
    steps = app.extensions["withdrawal_steps"] = withdrawals.steps(providers.from_config(app.config))
    # The dispatcher calls step(dispatcher, moment); ours take (store, moment, limit).
    app.extensions["dispatch_steps"].extend(
        lambda dispatcher, moment, step=step: step(dispatcher.store, moment, withdrawals.BATCH)
        for step in steps.values())


def _banner(app):
    # A log line like every other (JSON on stderr), not a print: stderr stays parseable.
    logging.getLogger("app.startup").info(f"wallet API on {app.extensions['storage'].describe()}")


def create_app(test_config=None):
    """Build the Flask app; ``test_config`` overrides the environment's settings."""
    from app import cli, console, storage
    from app.events import dispatch
    from app.ledger import seed
    from app.routes import register_blueprints
    from app.web import auth, observability, openapi, problems, validation

    app = Flask(__name__, static_folder=None)  # no static files: /static would be an undocumented route
    app.config.from_object(Config)
    app.config.update(test_config or {})
    app.json.sort_keys = False
    app.session_interface = _NoSessions()
    _settle_secrets(app)
    _settle_default_limits(app)
    _settle_webhook_ports(app)
    problems.init_app(app)
    validation.init_app(app)
    openapi.init_app(app)
    storage.init_app(app, seed.SEED)
    observability.init_app(app)
    auth.init_app(app)
    cli.init_app(app)
    register_blueprints(app)
    console.init_app(app)
    if app.config["SWEEPER_THREAD"]:
        from app.ledger import sweeper
        app.extensions["sweeper"] = sweeper.start_thread(app.extensions["store"],
                                                         app.config["SWEEP_INTERVAL_S"])
    _banner(app)
    dispatch.init_app(app)
    _settle_withdrawals(app)
    return app
