"""For the logout tests: the provider over HTTP, a browser, relying parties, and a
back-channel receiver that records the logout tokens it is sent."""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests
from flask import Flask, request

from tests.support.directory import PASSWORD
from tests.support.html import csrf_token
from tests.support.oidc import b64url

ISSUER = "http://idp.test"  # what the `make_app` fixture configures
T = TypeVar("T")


@dataclass
class Provider:
    """The provider app and the base URL it is served at."""

    app: Flask
    base: str

    def run(self, work: Callable[[], T]) -> T:
        """Run `work` in a short app context (never left pushed while serving)."""
        with self.app.app_context():
            return work()


VERIFIER = "v" * 43  # PKCE: every request of these tests uses this pair
CHALLENGE = b64url(hashlib.sha256(VERIFIER.encode()).digest())


@dataclass
class RelyingParty:
    client_id: str
    secret: str
    redirect_uri: str
    post_logout_uri: str | None = None

    def tokens(self, op: Provider, code: str) -> dict[str, Any]:
        response = requests.post(op.base + "/token", auth=(self.client_id, self.secret), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
            "code_verifier": VERIFIER,
        }, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def refresh(self, op: Provider, refresh_token: str) -> requests.Response:
        return requests.post(op.base + "/token", auth=(self.client_id, self.secret), data={
            "grant_type": "refresh_token", "refresh_token": refresh_token}, timeout=10)


def userinfo(op: Provider, access_token: str) -> requests.Response:
    return requests.get(op.base + "/userinfo", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"})


@dataclass
class Browser:
    """A person's browser: cookies, and redirects followed only inside the provider."""

    op: Provider
    http: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str, **params: str) -> requests.Response:
        return self.http.get(urljoin(self.op.base, path), params=params, allow_redirects=False,
                             timeout=10)

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        return self.http.post(urljoin(self.op.base, path), data=data, allow_redirects=False,
                              timeout=10)

    def login(self, identifier: str) -> None:
        page = self.get("/connexion")
        answer = self.post("/connexion", {"identifier": identifier, "password": PASSWORD,
                                          "csrf_token": csrf_token(page.text)})
        assert answer.status_code == 302, answer.text

    def authorize(self, rp: RelyingParty, scope: str = "openid profile",
                  **params: str) -> dict[str, str]:
        """The parameters the provider sends back to the client's redirect URI;
        a consent page on the way is accepted."""
        query = {"response_type": "code", "client_id": rp.client_id,
                 "redirect_uri": rp.redirect_uri, "scope": scope,
                 "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
                 "code_challenge": CHALLENGE, "code_challenge_method": "S256", **params}
        response = self.get("/authorize", **query)
        for _ in range(10):
            if response.status_code in (302, 303):
                location = response.headers["Location"]
                if location.startswith(rp.redirect_uri):
                    return dict(parse_qsl(urlsplit(location).query))
                response = self.get(location)
            elif response.status_code == 200 and "/consentement" in response.url:
                response = self.post(response.url, {"csrf_token": csrf_token(response.text),
                                                    "decision": "accept"})
            else:
                raise AssertionError(f"stuck at {response.url}: {response.status_code}")
        raise AssertionError("too many redirects")

    def sign_in(self, rp: RelyingParty, scope: str = "openid profile") -> dict[str, Any]:
        """Authorization code flow to the end: the client's tokens."""
        answer = self.authorize(rp, scope)
        assert "code" in answer, answer
        return rp.tokens(self.op, answer["code"])

    def signed_in(self, rp: RelyingParty) -> bool:
        """Whether the provider still knows this browser (prompt=none gives a code)."""
        answer = self.authorize(rp, prompt="none")
        assert "code" in answer or answer.get("error") == "login_required", answer
        return "code" in answer


class Receiver:
    """A relying party's back-channel logout endpoint (a Flask app to serve over HTTP).

    It answers 503 to its first `failures` calls, then records the tokens and says 200.
    """

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures, self.delay = failures, delay
        self.calls = 0
        self.tokens: list[str] = []
        self.content_types: list[str] = []
        self._cond = threading.Condition()
        self.app = Flask("backchannel-receiver")

        @self.app.post("/<path:_path>")
        def receive(_path: str) -> tuple[str, int]:
            time.sleep(self.delay)
            with self._cond:
                self.calls += 1
                if self.calls <= self.failures:
                    return "indisponible", 503
                self.tokens.append(request.form["logout_token"])
                self.content_types.append(request.content_type or "")
                self._cond.notify_all()
            return "", 200

    def wait_for(self, count: int, timeout: float = 10) -> list[str]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.tokens) >= count, timeout)
            return list(self.tokens)


class SilentServer:
    """Accepts connections and never answers: a client that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/backchannel"

    def close(self) -> None:
        self.sock.close()


def location_params(response: requests.Response) -> tuple[str, dict[str, str]]:
    """Where a redirect goes, split into the URI without query and its parameters."""
    parts = urlsplit(response.headers["Location"])
    return parts._replace(query="").geturl(), dict(parse_qsl(parts.query))


def page_text(response: requests.Response) -> str:
    """The visible text of a page, whitespace collapsed (for French wording checks)."""
    text = re.sub(r"<[^>]+>", " ", response.text)
    return re.sub(r"\s+", " ", text.replace("&#39;", "'"))
