"""The token paths' caches and answers: clients and signing keys are kept in each
process, yet a change made through one process is seen by every other at its next
request; JWKS and discovery carry an ETag; the client_credentials answer names the
granted scope when it differs from the one asked; a refresh reads what it needs in few
queries."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import pytest
from flask import Flask, request
from sqlalchemy import event

from idp.clients import service as clients
from idp.clients.models import Client
from idp.core.audit import Actor
from idp.directory.catalogue import load_catalogue
from idp.directory.enums import EntityType
from idp.directory.models import Account, Profile
from idp.extensions import db
from idp.keys import service as keys
from idp.oidc import grants_store
from idp.oidc import registry as registry_module
from idp.oidc.grants_store import AuthorizationCode
from idp.oidc.signing import JWKS_LAG
from tests.support import directory

ACTOR = Actor(label="test")


@pytest.fixture(params=["sqlite-embedded", "postgresql-redis"])
def two_apps(request: pytest.FixtureRequest, make_app: Any) -> tuple[Flask, Flask]:
    """Two provider processes, as far as their caches go: two apps on one database and
    one short-lived store."""
    if request.param == "sqlite-embedded":
        urls = (request.getfixturevalue("sqlite_url"), "")
    else:
        urls = (request.getfixturevalue("postgresql_url"), request.getfixturevalue("redis_url"))
    first, second = make_app(*urls), make_app(*urls)
    with first.app_context():
        ready(first)
    return first, second


def ready(app: Flask) -> None:
    """Signing keys and the catalogue (in an app context)."""
    keys.ensure_keys("test-passphrase", ACTOR)
    load_catalogue(ACTOR)
    db.session.commit()


def machine_client(app: Flask) -> tuple[str, dict[str, str]]:
    with app.app_context():
        row, secret = clients.create_client(name="Batch", domains=["ANCRE"],
                                            grant_types=["client_credentials"], actor=ACTOR)
        db.session.commit()
        credentials = base64.b64encode(f"{row.client_id}:{secret}".encode()).decode()
        return row.client_id, {"Authorization": f"Basic {credentials}"}


def client_credentials(app: Flask, auth: dict[str, str], **data: str) -> Any:
    return app.test_client().post("/token", headers=auth,
                                  data={"grant_type": "client_credentials", **data})


def test_a_client_disabled_through_one_process_is_refused_by_the_other(
        two_apps: tuple[Flask, Flask]) -> None:
    first, second = two_apps
    client_id, auth = machine_client(first)
    assert client_credentials(second, auth).status_code == 200  # now cached there
    with first.app_context():
        clients.disable_client(clients.get_client(client_id), ACTOR)
        db.session.commit()
    refused = client_credentials(second, auth)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    with first.app_context():
        clients.enable_client(clients.get_client(client_id), ACTOR)
        db.session.commit()
    assert client_credentials(second, auth).status_code == 200


def test_a_key_rotated_through_one_process_signs_and_is_published_by_the_other(
        two_apps: tuple[Flask, Flask]) -> None:
    first, second = two_apps
    _, auth = machine_client(first)
    before = client_credentials(second, auth).get_json()["access_token"]
    with first.app_context():
        new_kid = keys.rotate("RS256", "test-passphrase", ACTOR,
                              retire_after=timedelta(hours=1)).kid
        db.session.commit()
    after = client_credentials(second, auth).get_json()["access_token"]
    assert jwt.get_unverified_header(before)["kid"] != new_kid
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    published = {k["kid"] for k in second.test_client().get("/jwks").get_json()["keys"]}
    assert {jwt.get_unverified_header(before)["kid"], new_kid} <= published


@pytest.mark.parametrize("path", ["/jwks", "/.well-known/openid-configuration"])
def test_public_documents_carry_an_etag_and_answer_304_to_it(sqlite_app: Flask,
                                                            path: str) -> None:
    ready(sqlite_app)
    http = sqlite_app.test_client()
    first = http.get(path)
    assert first.status_code == 200 and first.headers["ETag"]
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    assert first.mimetype == "application/json" and first.get_json()
    again = http.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    other = http.get(path, headers={"If-None-Match": '"another"'})
    assert other.status_code == 200 and other.data == first.data


def test_the_jwks_etag_changes_with_a_rotation(sqlite_app: Flask) -> None:
    ready(sqlite_app)
    http = sqlite_app.test_client()
    etag = http.get("/jwks").headers["ETag"]
    keys.rotate("ES256", "test-passphrase", ACTOR, retire_after=timedelta(hours=1))
    db.session.commit()
    assert http.get("/jwks", headers={"If-None-Match": etag}).status_code == 200


@pytest.mark.parametrize("path", ["/jwks", "/.well-known/openid-configuration"])
def test_a_held_public_document_is_answered_ahead_of_the_page_hooks(
        sqlite_app: Flask, path: str) -> None:
    """Once loaded, the document is answered without Flask's hooks (no session, no CSRF,
    no screening of a form), with the same body and headers; anything else than a plain
    GET still goes through Flask."""
    ready(sqlite_app)
    hooks: list[str] = []
    sqlite_app.before_request(lambda: hooks.append(request.path) and None)
    http = sqlite_app.test_client()
    loaded = http.get(path)  # the first one loads it, through Flask
    assert hooks == [path]
    held = http.get(path, headers={"X-Request-Id": "fetch-1"})
    assert hooks == [path], "answered ahead of the hooks"
    assert held.status_code == 200 and held.data == loaded.data
    assert held.headers["X-Request-Id"] == "fetch-1"
    for name in ("ETag", "Cache-Control", "Content-Type", "X-Frame-Options",
                 "Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"):
        assert held.headers[name] == loaded.headers[name], name
    assert http.get(path, headers={"If-None-Match": held.headers["ETag"]}).status_code == 304
    assert http.get(path + "?x=1").data == loaded.data and hooks == [path, path]
    assert http.post(path).status_code == 405


def test_a_held_jwks_follows_a_rotation_made_elsewhere_within_its_lag(
        two_apps: tuple[Flask, Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = two_apps
    http = second.test_client()
    published = http.get("/jwks").get_json()
    with first.app_context():
        new_kid = keys.rotate("ES256", "test-passphrase", ACTOR,
                              retire_after=timedelta(hours=1)).kid
        db.session.commit()
    # The second process compares the registry's version at most once a JWKS_LAG: past
    # it, its held document is no longer answered ahead and is read again.
    later = time.monotonic() + JWKS_LAG
    monkeypatch.setattr(registry_module.time, "monotonic", lambda: later)
    kids = {k["kid"] for k in http.get("/jwks").get_json()["keys"]}
    assert new_kid in kids and new_kid not in {k["kid"] for k in published["keys"]}


@pytest.mark.parametrize(("asked", "answered"), [
    (None, None),  # nothing asked: nothing to say
    ("openid", None),  # granted as asked
    ("openid unknown", "openid"),
    ("unknown", ""),  # every scope asked was refused: the answer says so
])
def test_the_client_credentials_answer_names_a_scope_that_differs_from_the_asked_one(
        sqlite_app: Flask, asked: str | None, answered: str | None) -> None:
    ready(sqlite_app)
    _, auth = machine_client(sqlite_app)
    token = client_credentials(sqlite_app, auth, **({"scope": asked} if asked else {}))
    assert token.status_code == 200
    expected = asked if answered is None else answered
    assert token.get_json().get("scope") == expected


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    """The kinds of SQL statement (SELECT, UPDATE...) the main database runs while the
    fixture is used; the pool's liveness ping and the short-lived store (on PostgreSQL
    it shares the engine) left out."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.strip().upper() != "SELECT 1" and "short_lived" not in statement:
            seen.append(statement.split(None, 1)[0].upper())

    event.listen(db.engine, "before_cursor_execute", note)
    yield seen
    event.remove(db.engine, "before_cursor_execute", note)


@dataclass
class TokenWorld:
    person: Account
    profile: Profile
    rp: Client
    auth: dict[str, str]  # the client's HTTP Basic credentials

    def code(self, verifier: str, scope: str = "openid profile habilitations") -> str:
        """A code the person approved for the client, as the authorization endpoint
        leaves it in the store."""
        code = secrets.token_urlsafe(32)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        grants_store.save_code(AuthorizationCode(
            account_id=self.person.id, profile_id=self.profile.id,
            scope=scope, sid="", auth_time=int(time.time()),
            acr="eidas1", amr=["pwd"], code=code, client_id=self.rp.client_id,
            redirect_uri=REDIRECT_URI, code_challenge=challenge.rstrip(b"=").decode(),
            code_challenge_method="S256"))
        return code


REDIRECT_URI = "https://rp.test/cb"


@pytest.fixture
def token_world(app: Flask) -> TokenWorld:
    ready(app)
    person = directory.account("Banc", "Essai")
    profile = directory.profile(person, directory.entity("E1", EntityType.NAT, "Essai"),
                                "Essai", "ANCRE/LECTEUR")
    rp, secret = directory.client("Appli", ["ANCRE"], [REDIRECT_URI])
    db.session.commit()
    credentials = base64.b64encode(f"{rp.client_id}:{secret}".encode()).decode()
    return TokenWorld(person, profile, rp, {"Authorization": f"Basic {credentials}"})


def test_a_code_exchange_writes_its_grant_and_reads_it_back_once(
        app: Flask, token_world: TokenWorld, statements: list[str]) -> None:
    """The grant is inserted, then read back in one SELECT with the counters under which
    its subject (person, profile, entity, habilitations, roles) is kept in memory, and
    the refresh token inserted: nothing else reaches the database."""
    http = app.test_client()
    verifier = secrets.token_urlsafe(40)

    def exchange() -> None:
        code = token_world.code(verifier)
        statements.clear()
        response = http.post("/token", headers=token_world.auth, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert {"id_token", "refresh_token"} <= set(response.get_json())

    exchange()  # the first one fills the registry
    exchange()
    assert statements == ["INSERT", "SELECT", "INSERT"], statements


def test_a_refresh_reads_the_grant_in_one_query(
        app: Flask, token_world: TokenWorld, statements: list[str]) -> None:
    """The rights are checked at every refresh from one SELECT (the grant, with the
    counters its subject is kept under); the client and the keys come from the registry;
    the token is claimed by one UPDATE and its successor stored by one INSERT."""
    grant = grants_store.create_grant(AuthorizationCode(  # offline: no provider session
        account_id=token_world.person.id, profile_id=token_world.profile.id,
        scope="openid profile habilitations offline_access", sid="", auth_time=0,
        acr="eidas1", amr=["pwd"], client_id=token_world.rp.client_id))
    refresh = grants_store.issue_refresh_token(grant)
    db.session.commit()
    http = app.test_client()

    def rotate(token: str) -> str:
        response = http.post("/token", headers=token_world.auth,
                             data={"grant_type": "refresh_token", "refresh_token": token})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "id_token" in response.get_json()
        return response.get_json()["refresh_token"]

    refresh = rotate(refresh)  # the first one fills the registry
    statements.clear()
    rotate(refresh)
    assert statements.count("SELECT") == 1, statements
    assert statements.count("UPDATE") == 1 and statements.count("INSERT") == 1, statements
