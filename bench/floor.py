"""The Flask floor: the cheapest JSON answer Flask gives under the same gunicorn
settings as the provider. Every figure of the suite is also given as a ratio to it."""

from __future__ import annotations

from flask import Flask, Response, jsonify


def create_app() -> Flask:
    app = Flask("floor")

    @app.get("/")
    def floor() -> Response:
        return jsonify(ok=True)

    return app
