"""Driving the provider's pages with Flask's test client."""

from __future__ import annotations

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.directory import PASSWORD
from tests.support.html import csrf_token


def sign_in(client: FlaskClient, identifier: str, password: str = PASSWORD) -> TestResponse:
    """Fill in the login page as a person would (its CSRF token included)."""
    page = client.get("/connexion").get_data(as_text=True)
    return client.post("/connexion", data={"csrf_token": csrf_token(page),
                                           "identifier": identifier, "password": password})
