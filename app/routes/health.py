"""Operations: liveness, readiness and metrics."""
from flask import Blueprint, current_app

from app import errors
from app.web import metrics

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    """The process is up; says which engine holds the data."""
    return {"status": "ok", "engine": current_app.extensions["storage"].engine}


@bp.get("/ready")
def ready():
    """The database answers; 503 otherwise, so a load balancer sends no traffic here."""
    if not current_app.extensions["storage"].ping():
        raise errors.NotReady("the database did not answer a ping")
    return {"status": "ready"}


@bp.get("/metrics")
def prometheus_metrics():
    """Counters and histograms in the Prometheus text format."""
    body = current_app.extensions["metrics"].exposition()
    return body, 200, {"Content-Type": metrics.CONTENT_TYPE}
