"""The stack's floor for `make bench`: a bare Flask route that parses a JSON body and answers 201.

No auth, no validation, no storage, no log line: the most any endpoint of ours could reach
under the same gunicorn settings.
"""
from flask import Flask, jsonify, request


def create_app():
    app = Flask(__name__)

    @app.post("/floor")
    def floor():
        """Echo the id of the parsed body."""
        body = request.get_json()
        return jsonify({"id": body.get("from_wallet_id"), "status": "posted"}), 201

    @app.get("/health")
    def health():
        """For the benchmark's start-up wait."""
        return {"status": "ok"}

    return app
