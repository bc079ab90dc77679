"""Webhook endpoints: register, list, read, delete; their deliveries and a manual retry."""
from flask import Blueprint, current_app, g, jsonify

from app import errors, render
from app.web import auth
from app.web.auth import service_limit
from app.events import outbound
from app.ledger import webhooks
from app.routes.events import own_wallet_id
from app.web.validation import json_body

bp = Blueprint("webhooks", __name__)


def owner():
    return webhooks.OPERATOR_OWNER if g.caller.is_operator else g.caller.client_id


def checked_url(url):
    allow_private = current_app.config["WEBHOOK_ALLOW_PRIVATE"]
    ports = outbound.allowed_ports(current_app.config["WEBHOOK_ALLOWED_PORTS"], allow_private)
    try:
        outbound.check_url(url, allow_private, ports)
    except outbound.UrlNotAllowed as refusal:
        raise errors.WebhookUrlNotAllowed(str(refusal)) from None
    return url


@bp.post("/webhook-endpoints")
@auth.required()
def create_endpoint():
    """Register a URL for events; the signing secret is shown in this answer only."""
    body = json_body("webhook_endpoint_create")
    doc = webhooks.create_endpoint(
        g.store, owner(), own_wallet_id(), checked_url(body["url"]),
        list(dict.fromkeys(body.get("events", ["*"]))), outbound.new_secret(),
        service_limit("max_webhook_endpoints"))
    response = jsonify(render.webhook_endpoint(doc, with_secret=True))
    response.status_code = 201
    return response


@bp.get("/webhook-endpoints")
@auth.required()
def list_endpoints():
    """The caller's webhook endpoints, oldest first."""
    found = webhooks.list_endpoints(g.store, owner())
    return {"data": [render.webhook_endpoint(doc) for doc in found]}


@bp.get("/webhook-endpoints/<endpoint_id>")
@auth.required()
def get_endpoint(endpoint_id):
    """One of the caller's webhook endpoints, without its secret."""
    return render.webhook_endpoint(webhooks.get_endpoint(g.store, owner(),
                                                         endpoint_id))


@bp.delete("/webhook-endpoints/<endpoint_id>")
@auth.required()
def delete_endpoint(endpoint_id):
    """Stop sending to it; its pending deliveries fail."""
    return render.webhook_endpoint(webhooks.delete_endpoint(g.store, owner(),
                                                            endpoint_id))


@bp.get("/webhook-endpoints/<endpoint_id>/deliveries")
@auth.required()
def list_deliveries(endpoint_id):
    """The endpoint's latest deliveries: attempts, status codes, next attempt."""
    store = g.store
    webhooks.get_endpoint(store, owner(), endpoint_id)
    return {"data": [render.delivery(doc) for doc in webhooks.list_deliveries(store, endpoint_id)]}


@bp.post("/webhook-endpoints/<endpoint_id>/deliveries/<delivery_id>/retry")
@auth.required()
def retry_delivery(endpoint_id, delivery_id):
    """Make a delivery due now again (at least once: receivers dedupe by webhook-id)."""
    store = g.store
    webhooks.get_endpoint(store, owner(), endpoint_id)
    response = jsonify(render.delivery(webhooks.retry_delivery(store, endpoint_id, delivery_id)))
    response.status_code = 202
    return response
