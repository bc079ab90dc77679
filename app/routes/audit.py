"""The audit of a live process: a tenant's books, or (the platform operator) every tenant's."""
from flask import Blueprint, current_app, g, request

from app import audit, render
from app.web import auth
from app.web.auth import TENANT_HEADER

bp = Blueprint("audit", __name__)


@bp.get("/audit")
@auth.required(client=False)
def run_audit():
    """Check the books now; 200 with ``ok: false`` and the violations when they do not balance."""
    batch_size = current_app.config["AUDIT_BATCH_SIZE"]
    if g.caller.is_platform and request.headers.get(TENANT_HEADER) is None:
        return render.platform_audit(*audit.verify_platform(g.platform, batch_size))
    return render.audit(audit.verify(g.store, batch_size))
