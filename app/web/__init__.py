"""Web plumbing: problems, validation, auth, observability and metrics, OpenAPI, the edge."""
