"""Request bodies: parsed as JSON and checked against the schemas in schemas/.

Every schema file is read through ``read_schema``, which fills in the tables the ledger
declares once: a node ``{"x-values": "event_types"}`` becomes ``{"enum": [...]}`` with the
names of that table (after the node's own ``enum`` values, e.g. ``"*"``). Request schemas
refer to the shapes of ``schemas/defs.json`` (the amount) with ``$ref``.
"""
import functools
import json
import pathlib
import re

from flask import current_app, request
import email_validator
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app import errors, money
from app.ledger import entry_types, events

SCHEMA_DIR = pathlib.Path(__file__).resolve().parents[2] / "schemas"
VALUES_MARKER = "x-values"


def tables():
    """The tables a schema may name with ``"x-values"``, read now (a test may add a row)."""
    return {"entry_types": list(entry_types.ENTRY_TYPES), "event_types": list(events.EVENT_TYPES)}


def inject_tables(node, values):
    """``node`` with every ``"x-values"`` marker replaced by the enum of its table."""
    if isinstance(node, list):
        return [inject_tables(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: inject_tables(value, values) for key, value in node.items() if key != VALUES_MARKER}
    if VALUES_MARKER in node:
        result["enum"] = list(node.get("enum", [])) + values[node[VALUES_MARKER]]  # KeyError: no such table
    return result


def read_schema(path):
    """One schema file as the app uses it: its table markers filled in."""
    return inject_tables(json.loads(pathlib.Path(path).read_text()), tables())


def read_schemas(schema_dir=SCHEMA_DIR):
    """{file name: schema} for the request schemas, then those of ``responses/``."""
    paths = sorted(schema_dir.glob("*.json")) + sorted((schema_dir / "responses").glob("*.json"))
    return {path.name: read_schema(path) for path in paths}


def is_email_address(value):
    """An address as RFC 5322/6531 parsers read it; jsonschema's own check only looks for an "@"."""
    if not isinstance(value, str):
        return True
    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return False
    return True


def format_checker():
    """The format checks the schemas use: email, and amount (see app/money.py)."""
    checker = FormatChecker([])
    checker.checks("email")(is_email_address)
    checker.checks("amount")(lambda value: not isinstance(value, str) or money.is_valid_amount(value))
    return checker


@functools.lru_cache(maxsize=None)
def python_pattern(pattern):
    """An ECMA-262 schema pattern as Python means it: an unescaped final ``$`` becomes ``\\Z``.

    In ECMA-262 (the dialect of JSON Schema), ``$`` without the m flag matches only at the end
    of the input; in Python it also matches before a final newline, which let "1.5\\n" through.
    (Our schemas write digits as [0-9], never ``\\d``, which in Python matches other scripts'
    digits too; tests/api/test_patterns.py holds every pattern to both rules.)
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not python_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _is_integer(checker, instance):
    """JSON Schema counts 5.0 as an integer; we do not: a count or a limit is sent as 5, and a
    float must never reach the ledger (random.randrange and slicing refuse one)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


# Draft 2020-12 with the pattern keyword matched the way the schema's own dialect reads it, and
# an integer that is written as one.
SchemaValidator = validators.extend(
    Draft202012Validator, {"pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


def load_validators(schema_dir=SCHEMA_DIR):
    """Every request schema in the folder, checked and compiled once, by file stem.

    Their ``$ref``s ("defs.json#/$defs/amount") resolve among the folder's files, by ``$id``."""
    checker = format_checker()
    schemas = {path.stem: read_schema(path) for path in sorted(schema_dir.glob("*.json"))}
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        for schema in schemas.values())
    compiled = {}
    for stem, schema in schemas.items():
        _check_schema(json.dumps(schema, sort_keys=True))
        compiled[stem] = SchemaValidator(schema, registry=registry, format_checker=checker)
    return compiled


@functools.lru_cache(maxsize=None)
def _check_schema(text):
    """Refuse a schema that is not valid draft 2020-12 (SchemaError); each text is checked once
    per process (an app per test would otherwise check all of them again, 90 ms each time)."""
    Draft202012Validator.check_schema(json.loads(text))


def _pointer(parts):
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _field_errors(error):
    """One jsonschema error as {field, message} items, pointing at the field itself."""
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return [{"field": _pointer(path + [name]), "message": "is required"} for name in missing]
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        return [{"field": _pointer(path + [name]), "message": "is not a known field"}
                for name in error.instance if name not in known]
    message = error.schema.get("x-message") or error.message
    if "propertyNames" in error.schema_path:  # a bad key: point at the key itself
        path.append(error.instance)
    return [{"field": _pointer(path), "message": message}]


def validate(schema_name, document):
    """Raise ValidationFailed listing every violation, or return the document."""
    validator = current_app.extensions["validators"][schema_name]
    found = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        for item in _field_errors(error):
            if item not in found:
                found.append(item)
    if found:
        raise errors.ValidationFailed(
            f"{len(found)} field(s) are not valid; see errors", errors=found)
    return document


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs):
    """An object whose keys are all different: with repeats, parsers disagree on which one counts."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {repeated!r} appears more than once in one object")
    return document


def _body_bytes():
    """The whole body, or 413: a chunked body has no Content-Length to refuse it up front.

    Werkzeug stops reading such a body at MAX_CONTENT_LENGTH and returns what it read, so
    one more byte on the server's own stream tells a body that ended from one that was cut."""
    data = request.get_data(cache=False)
    limit = request.max_content_length  # MAX_CONTENT_LENGTH, unless the route set its own
    if limit is not None and len(data) >= limit and request.environ["wsgi.input"].read(1):
        raise errors.PayloadTooLarge(f"the body is larger than {limit} bytes")
    return data


def json_body(schema_name):
    """The request's JSON body, validated against ``schemas/<schema_name>.json``."""
    if request.mimetype != "application/json":
        raise errors.UnsupportedMediaType(
            f"send the body as application/json, not {request.mimetype or 'nothing'}")
    try:
        document = json.loads(_body_bytes(), parse_constant=_reject_constant,
                              object_pairs_hook=_unique_keys)
        _check_unicode(document)
    except ValueError as exc:
        raise errors.MalformedJson(f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # [[[[... a thousand deep: the parser gives up (it was a 500)
        raise errors.MalformedJson("the body nests too deeply to be read") from None
    return validate(schema_name, document)


def _check_unicode(value):
    """Refuse "\\ud800"-style lone surrogates: JSON lets them through, UTF-8 and BSON cannot."""
    if isinstance(value, str):
        value.encode("utf-8")  # UnicodeEncodeError is a ValueError
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_unicode(key)
            _check_unicode(item)
    elif isinstance(value, list):
        for item in value:
            _check_unicode(item)


def init_app(app):
    app.extensions["validators"] = load_validators()
