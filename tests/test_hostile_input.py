"""The hostile inputs a security review answered with server errors, one by one: each
gets a 4xx (or a 503 when a backend cannot serve), in French on pages and in OAuth's
JSON for programs, and no stack trace in the log. tests/test_fuzz.py looks for the
ones nobody listed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.oauth2.base import invalid_error_characters
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text
from werkzeug.test import EnvironBuilder, run_wsgi_app
from werkzeug.wrappers import Response

from idp.extensions import db
from tests.support import directory as d
from tests.support.html import csrf_token
from tests.support.oidc import b64url
from tests.support.web import sign_in
from tests.test_fuzz import ASSERTION_TYPE, World, build_world, jwt_like


@pytest.fixture
def no_traceback(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    traces = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not traces, traces[0].getMessage()


def provider(make_app: Callable[..., Flask], database_url: str,
             redis_url: str = "") -> tuple[Flask, World]:
    app = make_app(database_url, redis_url)
    return app, build_world(app)


def signed_in(app: Flask, identifier: str) -> FlaskClient:
    browser = app.test_client()
    assert sign_in(browser, identifier).status_code == 302
    return browser


VERIFIER = "v" * 43  # PKCE: the code_verifier of every request below, and its challenge
CHALLENGE = b64url(hashlib.sha256(VERIFIER.encode()).digest())


def authorize(browser: FlaskClient, world: World, **params: str) -> Response:
    query = {"response_type": "code", "client_id": world.client_id, "scope": "openid",
             "redirect_uri": "https://rp.test/callback", "state": "s",
             "code_challenge": CHALLENGE, "code_challenge_method": "S256", **params}
    return browser.get("/authorize", query_string=query)


def client_error(answer: Response) -> dict[str, str]:
    """The error the client received at its redirect URI."""
    assert answer.status_code == 303, answer.get_data(as_text=True)[:300]
    location = answer.headers["Location"]
    assert location.startswith("https://rp.test/callback?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def french_page(answer: Response, status: int) -> str:
    page = answer.get_data(as_text=True)
    assert answer.status_code == status, page[:300]
    assert '<html lang="fr">' in page and "Traceback" not in page
    return page


def bare(app: Flask, path: str, method: str = "GET", **kwargs: object) -> Response:
    """A request straight to the WSGI app: the test client parses the Host header itself
    (for its cookies) and would fail before the app on a hostile one."""
    builder = EnvironBuilder(path=path, method=method, **kwargs)  # type: ignore[arg-type]
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    return Response(*run_wsgi_app(app, environ, buffered=True))


# --- error descriptions ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "error"), [
    ("response_mode", 'query"\\\t\u00e9', "invalid_request"),
    ("prompt", "login\u00e9", "invalid_request"),
    ("response_type", 'code"\\', "unsupported_response_type"),
])
def test_an_error_description_echoing_a_value_carries_only_what_oauth_allows(
        make_app: Callable[..., Flask], sqlite_url: str, no_traceback: None,
        name: str, value: str, error: str) -> None:
    app, world = provider(make_app, sqlite_url)
    params = client_error(authorize(app.test_client(), world, **{name: value}))
    assert params["error"] == error
    assert params["error_description"]
    assert not invalid_error_characters(params["error_description"])  # RFC 6749 §5.2


def test_a_redirect_uri_with_a_quote_is_refused_on_a_page(
        make_app: Callable[..., Flask], sqlite_url: str, no_traceback: None) -> None:
    app, world = provider(make_app, sqlite_url)
    answer = authorize(app.test_client(), world, redirect_uri='https://rp.test/"\\\u00e9')
    assert '<code id="error-code">invalid_request</code>' in french_page(answer, 400)


# --- parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [
    ("max_age", "\u00b2"),  # str.isdigit says yes, int() says no
    ("max_age", "\u0661\u0662"),  # Arabic-Indic digits
    ("claims", "[" * 3000),  # RecursionError in json.loads
    ("claims", '{"id_token":' * 2000 + "{}" + "}" * 2000),
    ("claims", json.dumps({"id_token": {"email": {"values": [[[[["x"]]]]]}}})),
])
def test_parameters_that_broke_the_parsers_are_invalid_requests(
        make_app: Callable[..., Flask], sqlite_url: str, no_traceback: None,
        name: str, value: str) -> None:
    app, world = provider(make_app, sqlite_url)
    # Signed in: the request gets past the login, where max_age was read.
    params = client_error(authorize(signed_in(app, world.admin), world, **{name: value}))
    assert params["error"] == "invalid_request"


def test_cr_lf_in_next_is_not_followed(
        make_app: Callable[..., Flask], sqlite_url: str, no_traceback: None) -> None:
    app, world = provider(make_app, sqlite_url)
    browser = app.test_client()
    page = browser.get("/connexion", query_string={"next": "/compte/\r\nSet-Cookie: x=1"})
    form = page.get_data(as_text=True)
    answer = browser.post("/connexion", data={
        "csrf_token": csrf_token(form), "identifier": world.admin,
        "password": d.PASSWORD, "next": "/\r\n/evil.test"})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/compte/"
    assert "Set-Cookie: x" not in str(answer.headers)


def test_a_host_label_over_63_characters_is_a_400(
        make_app: Callable[..., Flask], sqlite_url: str, no_traceback: None) -> None:
    app, _ = provider(make_app, sqlite_url)
    for host in ("a" * 64 + ".test", "xn--", "a..b"):
        page = bare(app, "/connexion", headers={"Host": host})
        assert page.status_code == 400
        assert "Requête invalide" in page.get_data(as_text=True)
        assert bare(app, "/token", "POST", headers={"Host": host}).status_code == 400


# --- NUL on PostgreSQL ----------------------------------------------------------------


def test_nul_characters_are_refused_before_they_reach_postgresql(
        make_app: Callable[..., Flask], postgresql_url: str, no_traceback: None) -> None:
    app, world = provider(make_app, postgresql_url)
    anonymous = app.test_client()
    admin = signed_in(app, world.admin)

    page = french_page(authorize(anonymous, world, client_id="a\x00b"), 400)
    assert "caractère interdit" in page
    french_page(admin.get("/admin/applications/a%00b"), 400)
    french_page(anonymous.post("/connexion", data={"identifier": "4\x00", "password": "x"}),
                400)
    for headers, data in (({}, {"client_id": "a\x00b", "client_secret": "x"}),
                          (world.basic, {"code": "\x00"})):
        answer = anonymous.post("/token", headers=headers,
                                data={"grant_type": "authorization_code", **data})
        assert answer.status_code == 400 and answer.json["error"] == "invalid_request"
    # Inside Basic credentials (base64 of a\0b:c) the screening cannot see it: no client
    # has such an id.
    answer = anonymous.post("/token", headers={"Authorization": "Basic YQBiOmM="},
                            data={"grant_type": "authorization_code"})
    assert answer.status_code == 401 and answer.json["error"] == "invalid_client"


def test_a_nul_character_in_a_header_is_refused_too(
        make_app: Callable[..., Flask], sqlite_url: str, no_traceback: None) -> None:
    app, world = provider(make_app, sqlite_url)
    http = app.test_client()
    for headers in ({"X-Trace": "a\x00b"}, {"Content-Type": "text/plain\x00"}):
        assert "caractère interdit" in french_page(http.get("/connexion", headers=headers),
                                                   400)
        answer = http.post("/token", headers={**world.basic, **headers},
                           data={"grant_type": "authorization_code"})
        assert answer.status_code == 400 and answer.json["error"] == "invalid_request"


# --- clients --------------------------------------------------------------------------


@pytest.mark.parametrize("assertion", ["keyless", "deep"])
def test_a_client_assertion_that_cannot_be_checked_is_invalid_client(
        make_app: Callable[..., Flask], sqlite_url: str, no_traceback: None,
        assertion: str) -> None:
    app, world = provider(make_app, sqlite_url)
    # Naming a client registered for private_key_jwt without keys, or nested too deep.
    credentials = world.assertion if assertion == "keyless" else {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": jwt_like('{"alg":"RS256"}', "[" * 3000)}
    answer = app.test_client().post("/token", data={"grant_type": "client_credentials",
                                                    **credentials})
    assert answer.status_code in (400, 401) and answer.json["error"] == "invalid_client"


def test_an_unknown_id_on_the_administration_pages_is_a_404(
        make_app: Callable[..., Flask], sqlite_url: str, no_traceback: None) -> None:
    app, world = provider(make_app, sqlite_url)
    admin = signed_in(app, world.admin)
    assert "La page demandée n'existe pas" in french_page(
        admin.get("/admin/applications/inconnue"), 404).replace("&#39;", "'")
    french_page(admin.get("/admin/applications/%0D%0A"), 404)
    page = admin.get("/admin/applications").get_data(as_text=True)
    french_page(admin.post("/admin/applications/inconnue/desactiver",
                           data={"csrf_token": csrf_token(page)}), 404)


# --- backends that cannot serve -------------------------------------------------------


def unavailable(answer: Response, machine: bool = False) -> None:
    assert answer.status_code == 503, answer.get_data(as_text=True)[:300]
    assert answer.headers["Retry-After"]
    if machine:
        assert answer.json["error"] == "temporarily_unavailable"
    else:
        assert "momentanément indisponible" in answer.get_data(as_text=True)


def test_a_locked_short_lived_store_is_a_503(
        make_app: Callable[..., Flask], sqlite_url: str, no_traceback: None) -> None:
    """The SQLite store (its own file beside the database) held by another process."""
    app, world = provider(make_app, sqlite_url)
    store_engine = app.extensions["idp.store"]._session_factory.kw["bind"]
    # Registered after the app's own listener: waits 50 ms instead of 10 s.
    event.listen(store_engine, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=50"))
    store_engine.dispose()
    admin = signed_in(app, world.admin)
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    holder = sqlite3.connect(path.with_name(path.stem + "-store.sqlite3"),
                             isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        unavailable(app.test_client().get("/connexion"))  # a new session cannot be saved
        unavailable(authorize(admin, world))  # the request cannot be kept
        unavailable(app.test_client().post("/token", headers=world.basic, data={
            "grant_type": "authorization_code", "code": "c"}), machine=True)
    finally:
        holder.close()
    assert app.test_client().get("/connexion").status_code == 200


def code_for(browser: FlaskClient, world: World) -> str:
    """The administrator goes through the profile choice: a code for the client."""
    uid = authorize(browser, world).headers["Location"].split("/")[2]
    page = browser.get(f"/authorize/{uid}/profil").get_data(as_text=True)
    browser.post(f"/authorize/{uid}/profil", data={"csrf_token": csrf_token(page),
                                                   "profile": str(world.profile)})
    return client_error(browser.get(f"/authorize/resume/{uid}"))["code"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql+redis"])
def test_a_read_only_database_is_a_503(
        make_app: Callable[..., Flask], request: pytest.FixtureRequest, no_traceback: None,
        backend: str) -> None:
    """A standby, a database set read-only by its administrator: writes are refused."""
    if backend == "sqlite":
        app, world = provider(make_app, request.getfixturevalue("sqlite_url"))
    else:
        app, world = provider(make_app, request.getfixturevalue("postgresql_url"),
                              request.getfixturevalue("redis_url"))
    code = code_for(signed_in(app, world.admin), world)
    with app.app_context():
        if backend == "sqlite":
            event.listen(db.engine, "connect", lambda c, _r: c.execute("PRAGMA query_only=ON"))
        else:
            with db.engine.begin() as connection:
                name = connection.execute(text("SELECT current_database()")).scalar_one()
                connection.execute(text(
                    f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        db.engine.dispose()

    browser = app.test_client()
    page = browser.get("/connexion").get_data(as_text=True)
    unavailable(browser.post("/connexion", data={  # the login writes the audit log
        "csrf_token": csrf_token(page), "identifier": world.admin,
        "password": d.PASSWORD}))
    unavailable(app.test_client().post("/token", headers=world.basic, data={
        "grant_type": "authorization_code", "code": code, "code_verifier": VERIFIER,
        "redirect_uri": "https://rp.test/callback"}), machine=True)


def test_a_number_no_row_id_can_be_is_a_404(make_app: Callable[..., Flask],
                                            postgresql_url: str, no_traceback: None) -> None:
    """Found by the fuzz test: PostgreSQL's integer ids stop at 2**31 - 1."""
    app, world = provider(make_app, postgresql_url)
    admin = signed_in(app, world.admin)
    for number in ("99999999999999999999", str(2**31), "0"):
        french_page(admin.get(f"/profils/demandes/{number}"), 404)
        french_page(admin.get(f"/profils/{number}/habilitations"), 404)
