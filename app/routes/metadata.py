"""PATCH /{collection}/{id} {"metadata": {...}}: merge into an object's metadata (null removes a key)."""
from flask import Blueprint, g

from app import errors, render
from app.ledger import expiry, metadata, payment_requests, units
from app.web import auth
from app.web.validation import json_body

bp = Blueprint("metadata", __name__)


def _client(doc):
    store = g.store
    wallet = store.read(lambda db: db.wallets.find_one({"client_id": doc["_id"]}))
    return render.client_with_wallet(doc, wallet)


# path -> (its id's name, collection, fields naming who may see it, fields naming who may change
#          it, the 404 for one the caller cannot see, how it is shown)
TARGETS = {
    "transfers": ("transfer_id", "transfers", ("from_client_id", "to_client_id"), ("from_client_id",),
                  errors.TransferNotFound, render.transfer),
    "holds": ("hold_id", "holds", ("from_client_id", "to_client_id"), ("from_client_id",),
              errors.HoldNotFound, lambda doc: render.hold(expiry.as_of(doc, units.now()))),
    "payment-requests": ("request_id", "payment_requests", ("from_client_id", "to_client_id"),
                         ("to_client_id",), errors.PaymentRequestNotFound,
                         lambda doc: render.payment_request(payment_requests.seen(doc, units.now()))),
    "withdrawals": ("withdrawal_id", "withdrawals", ("client_id",), ("client_id",),
                    errors.WithdrawalNotFound, render.withdrawal),
    "wallets": ("wallet_id", "wallets", ("client_id",), ("client_id",), errors.WalletNotFound,
                render.wallet),
    "clients": ("client_id", "clients", ("_id",), ("_id",), errors.NotFound, _client),
}


def _update(kind, doc_id):
    """Merge the body's metadata into the object's (the one who made it, or the operator)."""
    body = json_body("metadata_update")
    _, collection, readers, actors, not_found, show = TARGETS[kind]
    doc = metadata.update(g.store, collection, doc_id, g.caller.client_id,
                          readers, actors, body["metadata"], not_found(f"no {kind} {doc_id}"))
    return show(doc)


def _view(kind, id_name):
    @auth.required()
    def view(**path):
        return _update(kind, path[id_name])
    view.__name__ = f"update_{kind.replace('-', '_')}_metadata"
    view.__doc__ = _update.__doc__
    return view


for _kind, (_id_name, *_) in TARGETS.items():
    bp.add_url_rule(f"/{_kind}/<{_id_name}>", view_func=_view(_kind, _id_name), methods=["PATCH"])
