"""Liveness."""
from flask import Blueprint, current_app

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    """The process is up; says which engine holds the data."""
    return {"status": "ok", "engine": current_app.extensions["store"].engine}
