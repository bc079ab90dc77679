"""Checks against the OpenAPI document itself: examples, and real responses, against its schemas."""
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.web.validation import SchemaValidator, format_checker

BASE = "urn:wallet-openapi"
DATA_KEYS = ("example", "examples", "const", "enum", "default")


def escape(token):
    return str(token).replace("~", "~0").replace("/", "~1")


class Document:
    """An OpenAPI document whose schemas can be used by JSON pointer."""

    def __init__(self, document):
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(BASE, resource)
        self._checker = format_checker()

    def errors(self, pointer, instance):
        """Messages for each way ``instance`` breaks the schema at ``pointer`` (none: valid)."""
        validator = SchemaValidator({"$ref": f"{BASE}#{pointer}"}, registry=self._registry,
                                    format_checker=self._checker)
        return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
                for error in validator.iter_errors(instance)]

    def examples(self):
        """Every (pointer of a schema, example) pair in the document."""
        found = []
        self._collect(self.document, "", found)
        return found

    def _collect(self, node, pointer, found):
        if isinstance(node, list):
            for index, item in enumerate(node):
                self._collect(item, f"{pointer}/{index}", found)
            return
        if not isinstance(node, dict):
            return
        examples = node.get("examples")
        if isinstance(examples, list):  # a schema's own examples
            found.extend((pointer, value) for value in examples)
        if "schema" in node:  # a media type or a parameter
            if "example" in node:
                found.append((pointer + "/schema", node["example"]))
            if isinstance(examples, dict):
                found.extend((pointer + "/schema", item["value"]) for item in examples.values())
        for key, value in node.items():
            if key not in DATA_KEYS:
                self._collect(value, f"{pointer}/{escape(key)}", found)

    def response_errors(self, method, path, response):
        """What is wrong with a real response to ``method path`` (an OpenAPI path template)."""
        operation = self.document["paths"][path][method.lower()]
        documented = operation["responses"].get(str(response.status_code))
        if documented is None:
            return [f"status {response.status_code} is not documented for {method} {path}"]
        if not response.data:
            return ["an empty body"]
        media_type = response.mimetype
        if media_type not in documented.get("content", {}):
            return [f"media type {media_type} is not documented for {response.status_code}"]
        pointer = "/".join(["/paths", escape(path), method.lower(), "responses", str(response.status_code),
                            "content", escape(media_type), "schema"])
        problems = self.errors(pointer, response.get_json()) if "json" in media_type else []
        for name, header in documented.get("headers", {}).items():
            if header.get("$ref"):
                header = self.document["components"]["headers"][header["$ref"].rsplit("/", 1)[1]]
            if header.get("required") and name not in response.headers:
                problems.append(f"the required header {name} is missing")
        return problems
