"""No 5xx under hostile input, on every route of the provider (`app.url_map`) and every
form its pages show, anonymous and signed in as a national administrator; on SQLite
(embedded store) and on PostgreSQL + Redis behind a proxy (X-Forwarded-* honoured).

Two passes:
- a sweep: each parameter of each protocol endpoint and each field of each form, on an
  otherwise valid request, receives each kind of value known to break a parser, a
  library or a database (NUL, CR/LF, quotes and backslashes, superscript digits, JSON
  nested thousands of levels, very long values...); each route receives each hostile
  header (Host labels over 63 characters, broken Basic credentials, a multipart body
  without boundary...);
- hypothesis: random query strings, forms, raw bodies (invalid UTF-8) and headers on
  every route, by GET and by POST (`FUZZ_EXAMPLES` per route, 20 by default).

Every answer must be below 500 and no log record may carry a stack trace. `pytest -s`
shows the number of requests sent.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule
from werkzeug.test import EnvironBuilder, run_wsgi_app
from werkzeug.wrappers import Response
from wtforms.fields.core import UnboundField

from idp.directory.enums import EntityType
from idp.extensions import db
from idp.web.session import COOKIE_NAME
from tests.support import directory as d

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
ISSUER = "http://idp.test"  # make_app's
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def jwt_like(header: str, payload: str) -> str:
    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    return f"{b64(header)}.{b64(payload)}.c2ln"


# One value of each kind that has broken something somewhere.
SWEEP_VALUES = [
    "a\x00b", "a\r\nSet-Cookie: x=1", '"\\\t\u00e9', "\u00b2", "x" * 5000, "[" * 3000,
    '{"a":' * 2000, "//evil.test", "99999999999999999999", "",
    jwt_like('{"alg":"RS256","typ":"at+jwt"}', "[" * 3000),
]
HOSTILE = [
    *SWEEP_VALUES, "\x00", "\r\n", "\t", '"', "\\", "\u00e9", "\u0661", "\u202e", "\ufeff",
    "\x7f", "\x1b[31m", "a." * 40 + "b" * 70, "{" * 3000, "/\t/evil.test", "/\\evil.test",
    "https://evil.test/", "javascript:alert(1)", "-1", "0", "1e309", "NaN", "null", "{}",
    "[]", "'; DROP TABLE accounts;--", "<script>x</script>",
    '{"id_token":{"acr":{"essential":true,"values":["eidas2"]}}}',
    "openid profile email habilitations offline_access", "none", "login select_account",
    "S256", "plain", "code", "form_post", "authorization_code", "refresh_token",
    "client_credentials", ASSERTION_TYPE,
]
HOSTILE_HEADERS: list[dict[str, str]] = [
    {"Host": "a" * 64 + ".test"}, {"Host": "xn--"}, {"Host": "a..b"}, {"Host": ""},
    {"X-Forwarded-Host": "a" * 64 + ".test"}, {"X-Forwarded-For": "\u00e9, x"},
    {"Authorization": "Basic "}, {"Authorization": "Basic !!!"},
    *({"Authorization": "Basic " + base64.b64encode(raw).decode()}
      for raw in (b"\xff\xfe:\xc3", b"a\x00b:c", b"a" * 5000 + b":x")),
    {"Authorization": "Bearer " + SWEEP_VALUES[-1]}, {"Authorization": "Bearer \u00e9"},
    {"Content-Type": "multipart/form-data"}, {"Content-Type": "application/json"},
    {"Origin": "\u00e9://"}, {"Referer": "http://[::1"}, {"Cookie": f"{COOKIE_NAME}=\u00e9"},
]

# The parameters of each protocol endpoint (the pages' forms are found by crawling).
PROTOCOL = {
    "oidc.authorize_endpoint": (
        "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt",
        "max_age", "claims", "login_hint", "id_token_hint", "acr_values", "ui_locales",
        "code_challenge", "code_challenge_method", "response_mode", "request",
        "request_uri"),
    "oidc.token": ("grant_type", "code", "redirect_uri", "code_verifier", "refresh_token",
                   "client_id", "client_secret", "client_assertion",
                   "client_assertion_type", "scope"),
    "oidc.introspect": ("token", "token_type_hint", "client_id", "client_secret",
                        "client_assertion", "client_assertion_type"),
    "oidc.revoke": ("token", "token_type_hint", "client_id", "client_secret",
                    "client_assertion", "client_assertion_type"),
    "oidc.userinfo": ("access_token",),
    "oidc.end_session": ("id_token_hint", "client_id", "post_logout_redirect_uri", "state",
                         "logout_hint", "ui_locales"),
}
PARAMETER_NAMES = sorted({name for names in PROTOCOL.values() for name in names}
                         | {"next", "interaction", "csrf_token"})


def form_fields() -> list[str]:
    """The names of every field of the provider's WTForms forms."""
    names: set[str] = set()
    pending = list(FlaskForm.__subclasses__())
    while pending:
        form = pending.pop()
        pending.extend(form.__subclasses__())
        names.update(name for klass in form.__mro__
                     for name, value in vars(klass).items() if isinstance(value, UnboundField))
    return sorted(names)


@dataclass
class World:
    """What the fuzz knows of the provider's data, to get past the first checks."""

    admin: str  # a national administrator's identifier
    profile: int  # one of the administrator's two ANCRE profiles
    client_id: str  # a confidential client (client_secret_basic)
    secret: str
    third_party: str  # a client that asks for consent
    assertion: dict[str, str]  # private_key_jwt credentials of a client without keys
    values: list[str]  # client ids, redirect URIs, JWT-shaped strings...
    path_values: list[str]  # ids for the routes' variables

    @property
    def basic(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def valid(self, endpoint: str) -> dict[str, str]:
        """A request the endpoint would accept (or nearly): the sweep spoils one field."""
        authorize = {"response_type": "code", "client_id": self.client_id,
                     "redirect_uri": "https://rp.test/callback", "scope": "openid profile",
                     "state": "s", "nonce": "n"}
        return {
            "oidc.authorize_endpoint": authorize,
            "oidc.token": {"grant_type": "authorization_code", "code": "c",
                           "redirect_uri": "https://rp.test/callback"},
            "oidc.introspect": {"token": "t"}, "oidc.revoke": {"token": "t"},
            "oidc.end_session": {"client_id": self.client_id},
        }.get(endpoint, {})


def build_world(app: Flask) -> World:
    with app.app_context():
        world = d.ancre_world()
        nat = d.entity("ATIH", EntityType.NAT, "Agence technique de l'information")
        admin = d.account("Nadia", "Nationale")
        d.profile(admin, nat, "Administratrice nationale", "ADMINISTRATION/ADMINISTRATEUR",
                  "ANCRE/LECTEUR")
        reader = d.profile(admin, world.etab_y, "Lectrice", "ANCRE/LECTEUR")
        redirect_uri = "https://rp.test/callback"
        confidential, secret = d.client("ANCRE", ["ANCRE"], [redirect_uri])
        public, _ = d.client("Mobile", ["ANCRE"], [redirect_uri], public=True)
        third, _ = d.client("Partenaire", ["ANCRE"], [redirect_uri], first_party=False)
        keyless, _ = d.client("Sans clés", ["ANCRE"], [redirect_uri])
        keyless.token_endpoint_auth_method = "private_key_jwt"
        keyless.client_secret_hash = None
        db.session.commit()
        ids = [confidential.client_id, public.client_id, third.client_id, keyless.client_id]
        assertion = jwt_like('{"alg":"RS256"}', json.dumps({
            "iss": keyless.client_id, "sub": keyless.client_id, "aud": f"{ISSUER}/token",
            "exp": 9999999999, "jti": "j"}))
        values = [*ids, redirect_uri, world.person.identifier, secret or "", assertion,
                  jwt_like("[" * 3000, "{}"), jwt_like('{"alg":"none"}', '{"sub":"x"}')]
        return World(admin.identifier, reader.id, confidential.client_id, secret or "",
                     third.client_id, {"client_assertion_type": ASSERTION_TYPE,
                                       "client_assertion": assertion},
                     values, [*ids, "secret", "desactiver", "activer"])


def hostile_text(world: World) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE), st.sampled_from(world.values),
                     st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))


def header_text() -> st.SearchStrategy[str]:
    """What a header can carry: Latin-1, no line breaks."""
    latin1 = st.characters(min_codepoint=0, max_codepoint=255, blacklist_characters="\r\n")
    return st.one_of(st.text(latin1, max_size=40), st.just("a" * 70 + ".test"))


@st.composite
def headers(draw: st.DrawFn, world: World) -> dict[str, str]:
    chosen: dict[str, str] = draw(st.sampled_from([{}, {}, world.basic, *HOSTILE_HEADERS]))
    for name in ("Host", "Authorization", "X-Forwarded-Host", "X-Forwarded-For",
                 "X-Forwarded-Proto", "Origin", "Referer", "Accept-Language", "Cookie"):
        if draw(st.integers(0, 9)) == 0:
            chosen = {**chosen, name: draw(header_text())}
    return chosen


@st.composite
def parameters(draw: st.DrawFn, world: World, endpoint: str,
               fields: list[str]) -> dict[str, str]:
    """The endpoint's valid request or nothing, with fields added or replaced."""
    base = world.valid(endpoint) if draw(st.booleans()) else {}
    names = st.one_of(st.sampled_from(PARAMETER_NAMES), st.sampled_from(fields),
                      st.text(max_size=8))
    return {**base, **draw(st.dictionaries(names, hostile_text(world), max_size=4))}


def path_for(rule: Rule, values: dict[str, str]) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", quote(values[name], safe=""), path)
    return path


def forms_of(page: str, url: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(method, action path, fields with their values) of each form of `page`."""
    for attributes, body in re.findall(r"<form\b([^>]*)>(.*?)</form>", page, re.S):
        action = re.search(r'action="([^"]*)"', attributes)
        method = re.search(r'method="([^"]*)"', attributes)
        fields = {html.unescape(name): html.unescape(value or "") for name, value in
                  re.findall(r'<(?:input|select|textarea|button)\b[^>]*?name="([^"]+)"'
                             r'(?:[^>]*?value="([^"]*)")?', body)}
        target = html.unescape(action.group(1)) if action and action.group(1) else url
        yield ((method.group(1) if method else "get").upper(),
               urlsplit(target).path or url, fields)


class Fuzzer:
    """Sends the requests, counts them, and checks every answer and the logs."""

    def __init__(self, app: Flask, world: World, caplog: pytest.LogCaptureFixture) -> None:
        self.app, self.world, self.caplog = app, world, caplog
        self.fields = form_fields()
        self.rules = sorted(app.url_map.iter_rules(), key=lambda r: (
            r.endpoint == "oidc.end_session", r.rule))  # the logout ends the session: last
        self.anonymous = app.test_client()
        self.count = 0
        self.interactions: list[str] = []
        self.sign_in()

    def open(self, client: FlaskClient | None, method: str, path: str,
             **kwargs: Any) -> Response:
        """Through a test client, or straight to the WSGI app (client None): the test
        client parses the Host to handle cookies, and fails on a hostile one."""
        if client is not None:
            return client.open(path, method=method, **kwargs)
        builder = EnvironBuilder(path=path, method=method, **kwargs)
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        body, status, answer_headers = run_wsgi_app(self.app, environ, buffered=True)
        return Response(body, status, answer_headers)

    def send(self, signed_in: bool, method: str, path: str,
             head: dict[str, str] | None = None, **kwargs: Any) -> Response:
        head = dict(head or {})
        client: FlaskClient | None = self.admin if signed_in else self.anonymous
        if "Host" in head or "Cookie" in head:
            cookie = self.admin.get_cookie(COOKIE_NAME)
            if signed_in and cookie is not None:
                head.setdefault("Cookie", f"{COOKIE_NAME}={cookie.value}")
            client = None
        self.count += 1
        response = self.open(client, method, path, headers=head, **kwargs)
        body = response.get_data()
        traces = [r for r in self.caplog.records
                  if r.exc_info or "Traceback" in r.getMessage()]
        self.caplog.clear()
        sent = f"{method} {path[:300]} {head!r:.300} {kwargs!r:.1000}"
        assert response.status_code < 500, f"{sent} -> {body[:300]!r}"
        assert not traces, f"{sent} -> {traces[0].getMessage()[:300]}"
        return response

    def sign_in(self) -> None:
        """The administrator signs in and starts two authorizations (profile choice and
        consent): their interaction ids go into the fuzz's values."""
        self.admin = self.app.test_client()
        self.send(True, "POST", "/connexion", data={
            "csrf_token": self.csrf_token("/connexion"), "identifier": self.world.admin,
            "password": d.PASSWORD})
        self.csrf = self.csrf_token("/compte/")  # the login gave the session a new one
        self.interactions = []
        for client_id in (self.world.client_id, self.world.third_party):
            params = {**self.world.valid("oidc.authorize_endpoint"), "client_id": client_id}
            page = self.send(True, "GET", "/authorize", query_string=params)
            self.interactions.append(page.headers["Location"].split("/")[2])
        # The third party's request goes on to its consent page.
        third = self.interactions[-1]
        self.send(True, "POST", f"/authorize/{third}/profil",
                  data={"csrf_token": self.csrf, "profile": str(self.world.profile)})
        self.send(True, "GET", f"/authorize/resume/{third}")

    def csrf_token(self, path: str) -> str:
        page = self.send(True, "GET", path).get_data(as_text=True)
        return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"',
                         page).group(1)

    def real_paths(self, rule: Rule) -> list[str]:
        """The rule's path with the ids of real things (one per interaction)."""
        return [path_for(rule, {name: uid if name == "uid" else self.world.path_values[0]
                                for name in rule.arguments}) for uid in self.interactions]

    # --- the sweep -----------------------------------------------------------------------

    def sweep(self) -> None:
        forms: dict[tuple[str, str], dict[str, str]] = {}
        for rule in self.rules:
            path = self.real_paths(rule)[0]
            # The logout's POST ends the session: anonymous.
            keep = rule.endpoint != "oidc.end_session"
            for head in HOSTILE_HEADERS:
                self.send(True, "GET", path, head)
                self.send(keep, "POST", path, head, data={"csrf_token": self.csrf})
            if rule.endpoint in PROTOCOL:
                self.spoil(rule.endpoint, path)
            if "GET" in rule.methods and rule.endpoint != "oidc.end_session":
                for real in self.real_paths(rule):
                    page = self.send(True, "GET", real).get_data(as_text=True)
                    forms.update({(method, action): fields for method, action, fields
                                  in forms_of(page, real)})
        for (method, action), fields in forms.items():
            for name in fields:
                for value in SWEEP_VALUES:
                    data = {**fields, name: value}
                    if method == "GET":
                        self.send(True, "GET", action, query_string=data)
                    else:
                        self.send(True, "POST", action, data=data)
        self.sign_in()  # a form (the logout, the login) may have ended the session

    def spoil(self, endpoint: str, path: str) -> None:
        """Each parameter of a valid request replaced by each hostile value; the client
        authenticated by HTTP Basic, or by a client assertion."""
        get = endpoint in ("oidc.authorize_endpoint", "oidc.end_session", "oidc.userinfo")
        # The logout's GET asks to confirm (the session stays); its POST ends it.
        signed_in = endpoint != "oidc.end_session"
        valid = self.world.valid(endpoint)
        variants = [({}, valid)]
        if endpoint in ("oidc.token", "oidc.introspect", "oidc.revoke"):
            variants = [(self.world.basic, valid), ({}, {**valid, **self.world.assertion})]
        for auth, base in variants:
            for name in {*PROTOCOL[endpoint], *base}:
                for value in SWEEP_VALUES:
                    data = {**base, name: value}
                    if get:
                        self.send(True, "GET", path, auth, query_string=data)
                    self.send(signed_in, "POST", path, auth, data=data)

    # --- hypothesis ----------------------------------------------------------------------

    def fuzz(self, rule: Rule) -> None:
        world = self.world
        path_values = st.one_of(st.sampled_from(world.path_values + self.interactions),
                                hostile_text(world))

        @settings(max_examples=EXAMPLES, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            path = path_for(rule, {name: data.draw(path_values) for name in rule.arguments})
            signed_in = data.draw(st.booleans())
            if signed_in and rule.endpoint == "oidc.end_session":
                self.sign_in()  # the logout of the previous example ended the session
            query = data.draw(parameters(world, rule.endpoint, self.fields))
            form = data.draw(parameters(world, rule.endpoint, self.fields))
            if signed_in and data.draw(st.booleans()):
                form["csrf_token"] = self.csrf
            head = data.draw(headers(world))
            self.send(signed_in, "GET", path, head, query_string=query)
            body = data.draw(st.sampled_from([None, b"\xff\xfe\x00=\x80",
                                              b"a=%ff%00&b=\xc3", b"[" * 3000]))
            if body is None:
                self.send(signed_in, "POST", path, head, query_string=query, data=form)
            else:
                self.send(signed_in, "POST", path + "?a=%ff%fe&client_id=%00", head,
                          data=body)

        run()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql+redis"])
def test_no_5xx_under_hostile_input(backend: str, request: pytest.FixtureRequest,
                                    make_app: Callable[..., Flask],
                                    caplog: pytest.LogCaptureFixture) -> None:
    if backend == "sqlite":
        app = make_app(request.getfixturevalue("sqlite_url"))
    else:
        app = make_app(request.getfixturevalue("postgresql_url"),
                       request.getfixturevalue("redis_url"), server={"proxy_hops": 1})
    fuzzer = Fuzzer(app, build_world(app), caplog)
    fuzzer.sweep()
    for rule in fuzzer.rules:
        fuzzer.fuzz(rule)
    print(f"fuzz ({backend}): {fuzzer.count} requests, 0 5xx")
