"""The admin log: a tenant's administrative actions (the platform operator: every tenant's)."""
from flask import Blueprint, g, request

from app import render
from app.ledger import admin_log
from app.routes import choice
from app.web.pagination import page_limit, position_cursor, read_position_cursor
from app.web import auth
from app.web.auth import TENANT_HEADER

bp = Blueprint("admin_log", __name__)
CURSOR_KIND = "adm"


@bp.get("/admin-log")
@auth.required(client=False)
def list_entries():
    """Entries newest first, a page at a time."""
    limit, action, after = page_limit(), choice("action", admin_log.ACTIONS), request.args.get("after")
    before = read_position_cursor(after, CURSOR_KIND) if after is not None else None
    every_tenant = g.caller.is_platform and request.headers.get(TENANT_HEADER) is None
    found, has_more = admin_log.list_entries(g.platform if every_tenant else g.store, action, before, limit)
    cursor = position_cursor({"created_at": found[-1]["at"], "_id": found[-1]
                             ["_id"]}, CURSOR_KIND) if found else after
    return {"data": [render.admin_log_entry(doc) for doc in found], "has_more": has_more,
            "next_cursor": cursor}
