"""Batch transfers: up to 1,000 transfers from the caller's wallets in one request."""
from flask import Blueprint, current_app, g, request

from app import ledger, render
from app.web import auth
from app.money import parse_cents
from app.routes import count_moved, created, idempotency_key
from app.web.validation import json_body

bp = Blueprint("batches", __name__)
# 1,000 items with ids, amounts and a details text each: larger than MAX_CONTENT_LENGTH allows.
MAX_BATCH_BYTES = 1024 * 1024


@bp.post("/transfer-batches")
@auth.required(operator=False)
def create_transfer_batch():
    """Post up to 1,000 transfers, all-or-nothing or each on its own merits."""
    request.max_content_length = max(MAX_BATCH_BYTES, current_app.config["MAX_CONTENT_LENGTH"])
    body = json_body("transfer_batch_create")
    items = [dict(item, amount_cents=parse_cents(item["amount"])) for item in body["transfers"]]
    batch, replayed = ledger.create_batch(g.store, g.caller.client_id,
                                          body["mode"], items,
                                          idem=idempotency_key(g.caller.idempotency_scope, body))
    count_moved("transfer", sum(items[r["index"]]["amount_cents"] for r in batch["results"]
                                if r["status"] == "posted"), replayed)
    return created(render.transfer_batch(batch), replayed)
