"""The audit of a live process, for the operator."""
from flask import Blueprint, current_app

from app import audit, render
from app.web import auth

bp = Blueprint("audit", __name__)


@bp.get("/audit")
@auth.required(client=False)
def run_audit():
    """Check the books now; 200 with ``ok: false`` and the violations when they do not balance."""
    report = audit.verify(current_app.extensions["store"], current_app.config["AUDIT_BATCH_SIZE"])
    return render.audit(report)
