"""Fuzzing the bytes of request bodies, where schemathesis does not go.

schemathesis generates bodies from the schemas (and near misses of them); it never sends JSON
nested a thousand deep, "\\ud800" escapes, or bytes that are not UTF-8. Here Hypothesis sends
those to every endpoint that reads a JSON body, as the caller it expects, and every response
must be documented in /openapi.json, never a 500.
"""
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.web.endpoints import ENDPOINTS, OPERATOR, PLATFORM, PUBLIC
from tests.support import fuzz_report
from tests.conftest import Api, make_app
from tests.support.contract import Document

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
BODY_ENDPOINTS = [endpoint for endpoint in ENDPOINTS if endpoint.body]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


def nested(depth, opener):
    closer = {"[": "]", '{"a":': "}"}[opener]
    return opener * depth + "0" + closer * depth


RAW_BODIES = st.one_of(
    st.binary(max_size=64),
    st.builds(nested, st.integers(0, 12).map(lambda power: 2 ** power), st.sampled_from(["[", '{"a":'])),
    JSON_VALUES.map(json.dumps),
    st.dictionaries(st.sampled_from(["email", "name", "password", "amount", "details", "from_wallet_id",
                                     "to_wallet_id"]), JSON_VALUES, max_size=5).map(json.dumps),
)


def string_paths(value, path=()):
    """The paths (keys and indexes) of every string in a JSON value, nested ones too."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from string_paths(inner, path + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from string_paths(inner, path + (index,))


def replaced(value, path, new):
    """``value`` with the element at ``path`` replaced by ``new`` (the rest shared)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return dict(value, **{head: replaced(value[head], rest, new)})
    return [replaced(inner, rest, new) if index == head else inner for index, inner in enumerate(value)]


def with_lone_surrogates(example):
    """The endpoint's own valid example, one of its strings (a metadata value too) replaced by a
    lone surrogate escape."""
    paths = sorted(string_paths(example), key=repr)
    return st.builds(lambda path, unit: json.dumps(replaced(example, path, "@")).replace(
        '"@"', '"\\u%04x"' % unit), st.sampled_from(paths), st.integers(0xD800, 0xDFFF))


def holds_lone_surrogate(body):
    """True for JSON text with a string that no UTF-8 (so no MongoDB document) can hold."""
    try:
        json.dumps(json.loads(body), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


def endpoint_example(document, endpoint):
    operation = document.document["paths"][endpoint.path][endpoint.method.lower()]
    return operation["requestBody"]["content"]["application/json"]["example"]


@pytest.fixture(scope="module")
def world():
    app = make_app()
    api = Api(app.test_client())
    _, headers, wallet_id = api.member(balance="100.00")
    callers = {PUBLIC: {}, OPERATOR: api.operator, PLATFORM: api.operator}
    return app, Document(app.extensions["openapi"]), wallet_id, lambda who: callers.get(who, headers)


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=lambda endpoint: endpoint.operation_id)
def test_no_body_breaks_the_api(world, endpoint):
    app, document, wallet_id, caller = world
    client = app.test_client()
    url = endpoint.path.replace("{wallet_id}", wallet_id)
    bodies = RAW_BODIES | with_lone_surrogates(endpoint_example(document, endpoint))

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(body=bodies)
    def post(body):
        response = client.open(url, method=endpoint.method, data=body, content_type="application/json",
                               headers=caller(endpoint.who))
        fuzz_report.record("bodies", f"{endpoint.method} {endpoint.path}", response.status_code)
        problems = document.response_errors(endpoint.method, endpoint.path, response)
        assert not problems, (body[:200], response.status_code, response.get_data()[:300], problems)
        if holds_lone_surrogate(body):
            # MongoDB cannot store it (no UTF-8 holds it), so it must never be accepted.
            assert response.json["code"] == "malformed_json", (body, response.json)

    post()
