"""The wallet API. Gunicorn runs ``app:create_app()``.

Importing ``app`` (or ``app.ledger``) imports no Flask: the factory module is
loaded only when an app is built, so the money rules stay usable without it.
"""


def create_app(test_config=None):
    """Build the Flask app (see app/factory.py); ``test_config`` overrides the environment."""
    from app.factory import create_app as build
    return build(test_config)
