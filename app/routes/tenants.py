"""Tenants, for the platform operator: create (with a first API key), list, read, change."""
import re

from flask import Blueprint, current_app, g, request

from app import errors, render
from app.ledger import tenants
from app.routes import created
from app.web import auth
from app.web.pagination import page_limit
from app.web.validation import json_body

bp = Blueprint("tenants", __name__)
TENANT_ID = re.compile(r"default|ten_[0-9a-f]{24}")


def _shown(doc):
    return render.tenant(doc, current_app.extensions["tenant_directory"].default_service_limits)


def _found(tenant_id):
    doc = tenants.get_tenant(g.platform, tenant_id) if TENANT_ID.fullmatch(tenant_id) else None
    if doc is None:
        raise errors.TenantNotFound(f"no tenant {tenant_id}")
    return doc


@bp.post("/tenants")
@auth.required(platform_only=True)
def create_tenant():
    """A new tenant, its books and its first API key (the secret is shown this once)."""
    body = json_body("tenant_create")
    directory = current_app.extensions["tenant_directory"]
    doc, key, secret = tenants.create_tenant(
        g.platform, body["name"], body.get("service_limits") or directory.default_service_limits,
        body.get("rate_limit", directory.default_rate_limit))
    return created(dict(_shown(doc), api_key=render.api_key(key, secret)), False)


@bp.get("/tenants")
@auth.required(platform_only=True)
def list_tenants():
    """Every tenant, in id order."""
    limit, after = page_limit(), request.args.get("after")
    if after is not None and not TENANT_ID.fullmatch(after):
        raise errors.InvalidCursor("after must be a next_cursor from an earlier page")
    found, has_more = tenants.list_tenants(g.platform, after, limit)
    return {"data": [_shown(doc) for doc in found], "has_more": has_more,
            "next_cursor": found[-1]["_id"] if found else after}


@bp.get("/tenants/<tenant_id>")
@auth.required(platform_only=True)
def get_tenant(tenant_id):
    """One tenant."""
    return _shown(_found(tenant_id))


@bp.patch("/tenants/<tenant_id>")
@auth.required(platform_only=True)
def update_tenant(tenant_id):
    """Rename, suspend or reactivate, or change the limits of a tenant."""
    body = json_body("tenant_update")
    if not TENANT_ID.fullmatch(tenant_id):
        raise errors.TenantNotFound(f"no tenant {tenant_id}")
    doc = tenants.update_tenant(g.platform, tenant_id, body)  # TenantNotFound if there is none
    current_app.extensions["tenant_directory"].forget(tenant_id)
    return _shown(doc)
