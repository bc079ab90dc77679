"""The OpenAPI 3.1 document, built once at start-up.

Its schemas are the JSON Schema files themselves: ``schemas/*.json`` (request bodies, the
same files the validator loads) and ``schemas/responses/*.json``, read as the validator reads
them (the ledger's tables of entry and event types filled in), each embedded under its
``title`` with its ``$ref``s pointed into ``components``. The operations come from the table
in ``app/web/endpoints.py``; the error examples are rendered by the error classes themselves.
"""
import copy

from app import errors
from app.ledger.admin_log import ACTIONS
from app.ledger.search import TYPES as TRANSFER_TYPES
from app.web.endpoints import CLIENT, ENDPOINTS, EITHER, OPERATOR, PLATFORM, PUBLIC, scope_of
from app.web.validation import SCHEMA_DIR, inject_tables, read_schemas, tables

COMPONENT = "#/components/schemas/"
SECURITY = {PUBLIC: [], CLIENT: [{"clientBearer": []}], OPERATOR: [{"operatorBearer": []}],
            EITHER: [{"clientBearer": []}, {"operatorBearer": []}], PLATFORM: [{"operatorBearer": []}]}


def _security(endpoint):
    """Who may call: the schemes of ``who``, plus a tenant's API key with the endpoint's scope."""
    security = [dict(requirement) for requirement in SECURITY[endpoint.who]]
    scope = scope_of(endpoint)
    if scope is not None and endpoint.who in (OPERATOR, EITHER, PUBLIC):
        if endpoint.who == PUBLIC:
            security.append({})  # sign-up: anyone, or a tenant's key for its tenant
        security.append({"apiKeyBearer": [scope]})
    return security


INFO = {
    "title": "Wallet API",
    "version": "1.0.0",
    "description": (
        "Wallets in USD, deposits by the operator, transfers between clients, and an append-only "
        "journal.\n\n"
        "* **Money** is a string of dollars: requests send at most two decimals (`\"12.34\"`), "
        "responses always two; never a JSON number.\n"
        "* **Errors** are `application/problem+json` (RFC 9457) with a stable `code`; "
        "`validation_failed` lists every field at once in `errors`. Unknown routes are 404 "
        "`not_found`, a wrong method 405 `method_not_allowed` with `Allow`, and an unexpected "
        "failure a bare 500 `internal_error` that reveals nothing.\n"
        "* **Auth**: clients send the token from `POST /auth/token`; the operator sends the "
        "`OPERATOR_TOKEN`, or a tenant's API key with the scope the endpoint names. Another "
        "client's wallet or transfer is 404, like a missing one.\n"
        "* **Tenants**: each platform's books are apart; another tenant's id answers like one "
        "that does not exist. The platform operator acts for a tenant with `X-Tenant-ID` "
        "(without it, in `default`).\n"
        "* **Idempotency**: `POST /clients`, deposits, transfers, refunds, the hold POSTs, payment "
        "requests and their approval, and the withdrawal POSTs take an `Idempotency-Key`. "
        "The same key and body replay the first answer with `Idempotent-Replayed: true`; the same "
        "key with another body is 422 `idempotency_key_reused`.\n"
        "* **Limits**: a body is at most 64 KiB (413 `payload_too_large`, chunked or not); a key "
        "repeated in one JSON object is 400 `malformed_json`; names, details and emails refuse "
        "control characters. The server in front of the app answers some requests itself, as "
        "problem+json too and on any path: 400 `malformed_request` (broken framing, a bad "
        "`Content-Length`), 408 `request_timeout` (a body slower than its deadline), 414 "
        "`uri_too_long`, 431 `header_fields_too_large`, 501 `transfer_coding_not_supported`; a "
        "request head that does not arrive within seconds is closed without an answer."),
}
PARAMETERS = {
    "wallet_id": {"name": "wallet_id", "in": "path", "required": True,
                  "schema": {"$ref": COMPONENT + "Common/$defs/wallet_id"}},
    "client_id": {"name": "client_id", "in": "path", "required": True,
                  "schema": {"$ref": COMPONENT + "Common/$defs/client_id"}},
    "transfer_id": {"name": "transfer_id", "in": "path", "required": True,
                    "schema": {"$ref": COMPONENT + "Common/$defs/transfer_id"}},
    "request_id": {"name": "request_id", "in": "path", "required": True,
                   "schema": {"$ref": COMPONENT + "Common/$defs/payment_request_id"}},
    "role": {"name": "role", "in": "query", "description": "Only requests where the caller is this party.",
             "schema": {"enum": ["payer", "payee"]}},
    "request_status": {"name": "status", "in": "query", "description": "Only requests in this status.",
                       "schema": {"enum": ["pending", "paid", "declined", "canceled", "expired"]}},
    "endpoint_id": {"name": "endpoint_id", "in": "path", "required": True,
                    "schema": {"$ref": COMPONENT + "Common/$defs/webhook_endpoint_id"}},
    "delivery_id": {"name": "delivery_id", "in": "path", "required": True,
                    "schema": {"$ref": COMPONENT + "Common/$defs/delivery_id"}},
    "type": {"name": "type", "in": "query", "description": "Only events of this type.",
             "schema": {"x-values": "event_types"}},  # filled in by build_document
    "hold_id": {"name": "hold_id", "in": "path", "required": True,
                "schema": {"$ref": COMPONENT + "Common/$defs/hold_id"}},
    "status": {"name": "status", "in": "query",
               "description": "Only holds in this status, as they read now.",
               "schema": {"enum": ["pending", "captured", "voided", "expired"]}},
    "withdrawal_id": {"name": "withdrawal_id", "in": "path", "required": True,
                      "schema": {"$ref": COMPONENT + "Common/$defs/withdrawal_id"}},
    "withdrawal_status": {"name": "status", "in": "query", "description": "Only withdrawals in this status.",
                          "schema": {"enum": ["pending", "processing", "succeeded", "failed", "returned"]}},
    "search_wallet_id": {"name": "wallet_id", "in": "query",
                         "description": "Transfers this wallet pays or receives (a client: its own; "
                                        "without it, a client's own wallet).",
                         "schema": {"$ref": COMPONENT + "Common/$defs/wallet_id"}},
    "transfer_type": {"name": "type", "in": "query", "description": "Only transfers of this type.",
                      "schema": {"enum": list(TRANSFER_TYPES)}},
    "counterparty_wallet_id": {"name": "counterparty_wallet_id", "in": "query",
                               "description": "Only transfers to or from this wallet.",
                               "schema": {"$ref": COMPONENT + "Common/$defs/wallet_id"}},
    "min_amount": {"name": "min_amount", "in": "query", "description": "Amount at least this, in dollars.",
                   "schema": {"type": "string", "format": "amount", "examples": ["100.00"]}},
    "max_amount": {"name": "max_amount", "in": "query", "description": "Amount at most this, in dollars.",
                   "schema": {"type": "string", "format": "amount", "examples": ["500.00"]}},
    "created_from": {"name": "created_from", "in": "query",
                     "description": "Created at or after this ISO 8601 date or date-time (UTC without an "
                                    "offset).", "schema": {"type": "string", "examples": ["2025-11-01"]}},
    "created_to": {"name": "created_to", "in": "query",
                   "description": "Created before this; as `created_from`.",
                   "schema": {"type": "string", "examples": ["2025-12-01T00:00:00Z"]}},
    "metadata": {"name": "metadata", "in": "query", "style": "deepObject", "explode": True,
                 "description": "`metadata[<key>]=<value>`: only transfers whose metadata has each pair.",
                 "schema": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 500},
                            "propertyNames": {"pattern": "^[A-Za-z0-9_.-]{1,40}$"}}},
    "limit": {"name": "limit", "in": "query", "description": "Entries per page.",
              "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
    "after": {"name": "after", "in": "query",
              "description": "The `next_cursor` of the previous page.",
              "schema": {"type": "string", "examples": ["c2VxOjI"]}},
    "format": {"name": "format", "in": "query",
               "description": "The statement's format; without it, `Accept` chooses.",
               "schema": {"enum": ["csv", "json", "xml"]}},
    "from": {"name": "from", "in": "query",
             "description": "Start of the period, inclusive: an ISO 8601 date or date-time (UTC "
                            "without an offset), years 1 to 9999 in UTC.",
             "schema": {"type": "string", "examples": ["2025-11-01"]}},
    "to": {"name": "to", "in": "query", "description": "End of the period, exclusive; as `from`.",
           "schema": {"type": "string", "examples": ["2025-12-01T00:00:00Z"]}},
    "at": {"name": "at", "in": "query",
           "description": "A moment: ISO 8601 date or date-time (UTC without an offset), from "
                          "0001-01-01 to 9999-12-31T23:59:59.998Z in UTC.",
           "schema": {"type": "string", "examples": ["2025-11-30T23:59:59Z"]}},
    "seq": {"name": "seq", "in": "query", "description": "A journal position (0: before the first).",
            "schema": {"type": "integer", "minimum": 0, "examples": [3]}},
    "tenant_header": {"name": "X-Tenant-ID", "in": "header",
                      "description": "The platform operator only: act in this tenant (default: `default`). "
                                     "From anyone else: 403 `forbidden`.",
                      "schema": {"$ref": COMPONENT + "Common/$defs/tenant_id"}},
    "monitor_id": {"name": "monitor_id", "in": "path", "required": True,
                   "schema": {"type": "string", "pattern": "^bm_[0-9a-f]{24}$"}},
    "tenant_id": {"name": "tenant_id", "in": "path", "required": True,
                  "schema": {"$ref": COMPONENT + "Common/$defs/tenant_id"}},
    "key_id": {"name": "key_id", "in": "path", "required": True,
               "schema": {"$ref": COMPONENT + "Common/$defs/api_key_id"}},
    "admin_action": {"name": "action", "in": "query", "description": "Only entries of this action.",
                     "schema": {"enum": list(ACTIONS)}},
    "idempotency_key": {
        "name": "Idempotency-Key", "in": "header",
        "description": "Makes a retry safe: the same key and body replay the first response.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$",
                   "examples": ["order-1042"]}},
}
HEADERS = {
    "Idempotent-Replayed": {"description": "Present when this is the replay of an earlier response.",
                            "schema": {"type": "string", "const": "true"}},
    "WWW-Authenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}},
}


def _point_refs(node, name, titles):
    """Rewrite ``$ref``s of the schema file embedded as ``name`` to point into components."""
    if isinstance(node, list):
        return [_point_refs(item, name, titles) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _point_refs(value, name, titles) for key, value in node.items()}
    if "$ref" in node:
        target, _, fragment = node["$ref"].partition("#")
        result["$ref"] = COMPONENT + (titles[target] if target else name) + fragment
    return result


def load_schemas(schema_dir=SCHEMA_DIR):
    """Request and response schema files as components, keyed by title."""
    raw = read_schemas(schema_dir)
    titles = {file_name: schema["title"] for file_name, schema in raw.items()}
    components = {}
    for file_name, schema in raw.items():
        embedded = {key: value for key, value in schema.items() if key not in ("$schema", "$id")}
        components[titles[file_name]] = _point_refs(embedded, titles[file_name], titles)
    return components, titles


def _problem_response(status, codes, endpoint):
    classes = {(cls.status, cls.code): cls for cls in errors.ApiError.__subclasses__()}
    refusals = [classes[(status, code)] for code in codes]  # KeyError: no such error class
    examples = {}
    for cls in refusals:
        problem = cls().to_problem()
        if cls is errors.ValidationFailed:
            problem.update(detail="1 field(s) are not valid; see errors",
                           errors=[{"field": "/amount", "message": "must be a string of dollars"}])
        examples[cls.code] = {"summary": cls.title, "value": problem}
    schema = {"allOf": [{"$ref": COMPONENT + "Problem"},
                        {"properties": {"status": {"const": status}, "code": {"enum": list(codes)}}}]}
    response = {"description": "; ".join(f"`{cls.code}`: {cls.title}" for cls in refusals),
                "content": {errors.PROBLEM_JSON: {"schema": schema, "examples": examples}}}
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = {"$ref": "#/components/headers/WWW-Authenticate"}
    if status == 422 and endpoint.idempotent:
        headers["Idempotent-Replayed"] = {"$ref": "#/components/headers/Idempotent-Replayed"}
    if headers:
        response["headers"] = headers
    return response


def _error_codes(endpoint):
    """Status -> codes: the endpoint's own plus those every endpoint of its kind shares."""
    shared = {}
    if endpoint.body:
        shared.setdefault(400, []).extend(["malformed_json", "validation_failed"])
        shared[413] = ["payload_too_large"]  # past MAX_CONTENT_LENGTH, chunked or not
        shared[415] = ["unsupported_media_type"]
    if endpoint.idempotent:
        shared.setdefault(400, []).append("invalid_idempotency_key")
        shared.setdefault(422, []).append("idempotency_key_reused")
    if endpoint.who != PUBLIC:
        shared[401] = ["unauthenticated"]
    if endpoint.who in (CLIENT, OPERATOR, PLATFORM):
        shared[403] = ["forbidden"]
    if endpoint.who != PUBLIC or endpoint.path == "/clients":
        # X-Tenant-ID from the platform operator naming no tenant; from anyone else, 403
        shared.setdefault(403, []).append("forbidden")
        shared.setdefault(404, []).append("tenant_not_found")
        if endpoint.who != PLATFORM:  # the platform operator is never rate limited
            shared[429] = ["rate_limited"]
        if scope_of(endpoint) is not None:
            shared[403].append("insufficient_scope")
        if endpoint.method != "GET":
            shared[403].append("tenant_suspended")
    if endpoint.storage:
        shared[503] = ["database_unavailable"]
    if endpoint.idempotent:  # a unit of work that writes: its commit and its wallets (app/storage/mongo.py)
        shared.setdefault(503, []).extend(["outcome_unknown", "wallet_busy"])
        # the embedded engine's bound on a caller's unexpired keys (app/storage/idempotency.py)
        shared[503].append("idempotency_store_full")
    for status, codes in endpoint.errors.items():
        shared.setdefault(status, []).extend(codes)
    return {status: list(dict.fromkeys(codes)) for status, codes in sorted(shared.items())}


def _media(media_type, title, schemas):
    """The content of one media type: the titled schema, else any JSON object or any text."""
    if title is None:
        return {"schema": {"type": "object" if media_type == "application/json" else "string"}}
    content = {"schema": {"$ref": COMPONENT + title}}
    if "examples" in schemas[title]:
        content["example"] = schemas[title]["examples"][0]
    return content


def _success_response(endpoint, schemas):
    status, title, media_types = endpoint.ok
    media_types = (media_types,) if isinstance(media_types, str) else media_types
    response = {"description": endpoint.summary,
                "content": {media_type: _media(media_type, title if media_type.endswith("json") else None,
                                               schemas) for media_type in media_types}}
    if endpoint.idempotent:
        response["headers"] = {"Idempotent-Replayed": {"$ref": "#/components/headers/Idempotent-Replayed"}}
    if endpoint.links:
        response["links"] = copy.deepcopy(endpoint.links)
    return str(status), response


def _request_body(endpoint, schemas, titles):
    title = titles[endpoint.body + ".json"]
    example = {name: prop["examples"][0]
               for name, prop in schemas[title]["properties"].items() if "examples" in prop}
    return {"required": True, "content": {"application/json": {
        "schema": {"$ref": COMPONENT + title}, "example": example}}}


def _operation(endpoint, schemas, titles):
    names = [part[1:-1] for part in endpoint.path.split("/") if part.startswith("{")]
    if endpoint.idempotent:
        names.append("idempotency_key")
    if endpoint.who != PUBLIC or endpoint.path == "/clients":
        names.append("tenant_header")
    operation = {"operationId": endpoint.operation_id, "tags": [endpoint.tag],
                 "summary": endpoint.summary, "security": _security(endpoint)}
    if endpoint.description:
        operation["description"] = endpoint.description
    parameters = [{"$ref": f"#/components/parameters/{name}"} for name in names + list(endpoint.query)]
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body:
        operation["requestBody"] = _request_body(endpoint, schemas, titles)
    status, success = _success_response(endpoint, schemas)
    operation["responses"] = {status: success}
    for error_status, codes in _error_codes(endpoint).items():
        operation["responses"][str(error_status)] = _problem_response(error_status, codes, endpoint)
    return operation


def build_document(endpoints=ENDPOINTS, schema_dir=SCHEMA_DIR):
    """The whole OpenAPI 3.1 document as a dict."""
    schemas, titles = load_schemas(schema_dir)
    paths = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas, titles)
    bearer = {"type": "http", "scheme": "bearer"}
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "servers": [{"url": "/", "description": "this server"}],
        "tags": [{"name": name} for name in dict.fromkeys(e.tag for e in endpoints)],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": inject_tables(PARAMETERS, tables()),
            "headers": HEADERS,
            "securitySchemes": {
                "clientBearer": dict(bearer, description="A client: the `access_token` from "
                                                         "`POST /auth/token`."),
                "operatorBearer": dict(bearer, description="The platform operator (the bank side): "
                                                           "`OPERATOR_TOKEN`."),
                "apiKeyBearer": dict(bearer, description="A tenant's API key (`sk_...`, from "
                                                         "`POST /tenants` or `POST /api-keys`): its "
                                                         "tenant's operator, within its scopes (the "
                                                         "roles listed; `*` holds every scope)."),
            },
        },
    }


def init_app(app):
    app.extensions["openapi"] = build_document()
