"""The one harness for testing the provider from outside: the provider served over HTTP,
a person's browser, relying applications (code flow, tokens, logout), and the people and
applications of a scenario.

Everything here talks to the provider over real HTTP with libraries that share no code
with it (Authlib is the server's): `requests` for the browser, `requests-oauthlib`
(oauthlib) for the client side of the code flow and PKCE, and PyJWT fetching our
`/jwks` to check every signature and claim. The data is built beforehand inside an app
context (`Provider.run`); no app context stays pushed while the provider is driven.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, parse_qsl, urlencode, urljoin, urlsplit

import jwt
import requests
from flask import Flask
from oauthlib.oauth2 import BackendApplicationClient, WebApplicationClient
from requests_oauthlib import OAuth2Session
from sqlalchemy import select

from idp.core.audit import AuditEvent
from idp.directory import services
from idp.directory.models import Account, Habilitation
from idp.extensions import db
from idp.outbox.models import OutboxItem
from tests.support import directory
from tests.support.apps import AppFactory, app_factory, app_server
from tests.support.directory import PASSWORD
from tests.support.html import Form, form_with, forms_of

T = TypeVar("T")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPE = "openid profile email habilitations"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
AUTO_SUBMIT = "document.forms[0].submit()"  # what the form_post page's script does


# --- the provider, served over HTTP ---------------------------------------------------


@dataclass
class Provider:
    """An app served on 127.0.0.1 whose issuer is its own base URL."""

    app: Flask
    issuer: str
    _metadata: dict[str, Any] | None = None

    def run(self, work: Callable[[], T]) -> T:
        """Run `work` inside an app context (to build or inspect data), then leave it."""
        with self.app.app_context():
            return work()

    @property
    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            response = requests.get(f"{self.issuer}/.well-known/openid-configuration",
                                    timeout=10)
            response.raise_for_status()
            self._metadata = response.json()
        return self._metadata

    def endpoint(self, name: str) -> str:
        return self.metadata[f"{name}_endpoint"]

    def jwks(self) -> dict[str, Any]:
        return requests.get(self.metadata["jwks_uri"], timeout=10).json()


Serve = Callable[..., Provider]  # serve(database_url, redis_url="", **sections)


@contextmanager
def serving(make_app: AppFactory, host: str = "127.0.0.1") -> Iterator[Serve]:
    """`serve(database_url, redis_url="", **sections)` starts a provider on a free port,
    built knowing its issuer (the base URL, on `host`: see `app_server`)."""
    with app_server(host=host) as serve_app:

        def serve(database_url: str, redis_url: str = "",
                  **sections: dict[str, Any]) -> Provider:
            server_section = sections.pop("server", {})

            def build(base: str) -> Flask:
                return make_app(database_url, redis_url,
                                server={**server_section, "issuer": base}, **sections)

            app, base = serve_app(build)
            return Provider(app=app, issuer=base)

        yield serve


# --- HTML pages -----------------------------------------------------------------------


@dataclass
class Page:
    """A page of the provider, as the browser received it."""

    url: str
    status: int
    html: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The HTML with entities decoded and white space collapsed (to look for the
        French sentences of the guides)."""
        return " ".join(html.unescape(self.html).split())

    @property
    def visible_text(self) -> str:
        """What a person reads: the text without its tags (nor their attributes),
        entities decoded, white space collapsed."""
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", self.html)).split())

    @property
    def is_redirect(self) -> bool:
        return self.status in (301, 302, 303, 307, 308) and "Location" in self.headers

    @property
    def location(self) -> tuple[str, dict[str, str]]:
        """Where a redirection goes: the URI without its query, and the query's parameters."""
        parts = urlsplit(self.headers["Location"])
        return parts._replace(query="").geturl(), dict(parse_qsl(parts.query))

    @property
    def forms(self) -> list[Form]:
        return forms_of(self.html)

    def form_with(self, name: str) -> int:
        """The index of the first form with a field, a radio or a button called `name`."""
        return self.forms.index(form_with(self.html, name))

    def form_to(self, path: str) -> int:
        """The index of the first form whose action ends with `path`."""
        for index, form in enumerate(self.forms):
            if form.action.endswith(path):
                return index
        raise AssertionError(f"no form towards {path!r} on {self.url}")

    @property
    def kind(self) -> str:
        path = urlsplit(self.url).path
        if path == "/connexion":
            return "login"
        if path.endswith("/profil"):
            return "profile_choice"
        if path.endswith("/consentement"):
            return "consent"
        return "other"


@dataclass
class Arrival:
    """What reached the client's redirect URI: by a redirection or by a posted form."""

    url: str  # the redirect URI (without the query)
    params: dict[str, str]
    mode: str  # "query" or "form_post"


def _single(values: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in values.items()}


class Browser:
    """A person's browser: cookies, redirections within the provider, forms."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.http = requests.Session()
        self.http.headers["Accept-Language"] = "fr-FR"
        self.history: list[str] = []  # every URL requested at the provider

    def _ours(self, url: str) -> bool:
        return url.startswith(self.provider.issuer + "/")

    def open(self, url: str, data: dict[str, str] | None = None,
             method: str | None = None) -> Page | Arrival:
        """Load `url`, follow the provider's redirections; stop at a page or at the client."""
        method = method or ("POST" if data is not None else "GET")
        for _ in range(20):
            if not self._ours(url):
                parts = urlsplit(url)
                return Arrival(url=url.split("?")[0], mode="query",
                               params=_single(parse_qs(parts.query)))
            page = self._request(method, url, data)
            if page.is_redirect:
                url = urljoin(url, page.headers["Location"])
                method, data = "GET", None
                continue
            return self._form_post(page) or page
        raise AssertionError("too many redirections")

    def _request(self, method: str, url: str, data: dict[str, str] | None) -> Page:
        self.history.append(url)
        response = self.http.request(method, url, data=data, allow_redirects=False,
                                     timeout=10)
        return Page(url=response.url, status=response.status_code, html=response.text,
                    headers=response.headers)

    def get(self, path: str, **params: str) -> Page:
        """One GET at the provider (`path` relative to its issuer, or a full URL), its
        answer as it is: a redirection is not followed."""
        url = urljoin(self.provider.issuer + "/", path.lstrip("/"))
        return self._request("GET", f"{url}?{urlencode(params)}" if params else url, None)

    def post(self, path: str, data: dict[str, str]) -> Page:
        """One form POST at the provider, its answer as it is (not followed)."""
        return self._request("POST", urljoin(self.provider.issuer + "/", path.lstrip("/")),
                             data)

    def post_form(self, page: Page, name: str, **values: str) -> Page:
        """Post the form of `page` with a field or button `name` (its hidden fields, the
        CSRF token among them, and `values`); the answer as it is (not followed)."""
        form = page.forms[page.form_with(name)]
        action = urljoin(page.url, form.action) if form.action else page.url
        return self._request("POST", action, {**form.fields, **values})

    def end_session(self, **params: str) -> Page:
        """RP-initiated logout as most applications send it: the browser brought to the
        discovery's end_session_endpoint with the parameters in the query (not followed)."""
        return self.get(self.provider.metadata["end_session_endpoint"], **params)

    def signed_in(self, rp: RelyingParty) -> bool:
        """Whether the provider still knows this browser: `rp` asks with prompt=none and
        gets a code (or login_required)."""
        answer = rp.ask(self, prompt="none")
        assert "code" in answer or answer.get("error") == "login_required", answer
        return "code" in answer

    def _form_post(self, page: Page) -> Arrival | None:
        """The form_post response mode: a form towards the client that the page's script
        (inline, or loaded from the provider as a browser would) submits at once."""
        forms = page.forms
        if not forms or self._ours(urljoin(page.url, forms[0].action)):
            return None
        scripts = [page.html] + [
            self.http.get(urljoin(page.url, src), timeout=10).text
            for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', page.html)]
        if not any(AUTO_SUBMIT in script for script in scripts):
            return None
        form = forms[0]
        assert form.method.lower() == "post"
        return Arrival(url=form.action, params=dict(form.fields), mode="form_post")

    def submit(self, page: Page, button: tuple[str, str] | None = None,
               form_index: int = 0, **values: str) -> Page | Arrival:
        """Post a form of `page` with its hidden fields (CSRF token included)."""
        form = page.forms[form_index]
        data = {**form.fields, **values}
        if button is not None:
            data[button[0]] = button[1]
        action = urljoin(page.url, form.action) if form.action else page.url
        return self.open(action, data=data, method=form.method.upper())

    def login(self, page: Page, identifier: str, password: str = PASSWORD) -> Page | Arrival:
        assert page.kind == "login", page.url
        return self.submit(page, form_index=page.form_with("password"),
                           identifier=identifier, password=password)

    def sign_in(self, identifier: str, password: str = PASSWORD) -> None:
        """Sign in to the provider directly (its own login page, no client)."""
        page = self.open(f"{self.provider.issuer}/connexion")
        assert isinstance(page, Page) and page.kind == "login"
        result = self.login(page, identifier, password)
        assert isinstance(result, Page) and result.status == 200, result

    def authorize(self, url: str, identifier: str | None = None, password: str = PASSWORD,
                  profile: int | None = None, consent: bool = True,
                  stop_at: str | None = None, post: bool = False) -> Page | Arrival:
        """Go through the provider's pages until the client gets an answer.

        The login page gets `identifier`; the profile choice `profile` (else the
        pre-selected one); the consent page is accepted or refused. The page of kind
        `stop_at`, any other page, or a page met without the means to answer it is
        returned as it is. With `post`, the request is sent as a form (OIDC Core 3.1.2.1)."""
        if post:
            endpoint, _, query = url.partition("?")
            result = self.open(endpoint, data=_single(parse_qs(query)))
        else:
            result = self.open(url)
        for _ in range(6):
            if not isinstance(result, Page) or result.kind == stop_at:
                return result
            if result.kind == "login" and identifier and result.status == 200:
                result = self.login(result, identifier, password)
                identifier = None  # once: a second login page is for the test to see
            elif result.kind == "profile_choice" and result.status == 200:
                chosen = {"profile": str(profile)} if profile is not None else {}
                result = self.submit(result, form_index=result.form_with("profile"),
                                     **chosen)
            elif result.kind == "consent" and result.status == 200:
                result = self.submit(result, form_index=result.form_with("decision"),
                                     button=("decision", "accept" if consent else "refuse"))
            else:
                return result
        return result


# --- the relying application ----------------------------------------------------------


@dataclass
class AuthRequest:
    url: str
    state: str
    nonce: str | None
    code_verifier: str | None
    scope: str


@dataclass
class Tokens:
    """A token response, with the ID token verified and decoded."""

    raw: dict[str, Any]
    id_claims: dict[str, Any]
    id_header: dict[str, Any]

    @property
    def access_token(self) -> str:
        return self.raw["access_token"]

    @property
    def refresh_token(self) -> str | None:
        return self.raw.get("refresh_token")

    @property
    def id_token(self) -> str:
        return self.raw["id_token"]

    @property
    def scopes(self) -> list[str]:
        scope = self.raw.get("scope", "")  # oauthlib gives a list, the wire a string
        return scope.split() if isinstance(scope, str) else list(scope)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def token_hash(value: str) -> str:
    """at_hash / c_hash for the SHA-256 algorithms (RS256, ES256)."""
    return b64url(hashlib.sha256(value.encode("ascii")).digest()[:16])


class ProviderError(AssertionError):
    """The provider refused a request the relying application expected to succeed."""


@dataclass
class RelyingParty:
    """A client application of the provider, written against the specifications only."""

    provider: Provider
    client_id: str
    client_secret: str | None
    redirect_uri: str
    auth_method: str = "client_secret_basic"  # ... or client_secret_post, none, private_key_jwt
    scope: str = SCOPE
    private_key: Any = None  # for private_key_jwt: a `cryptography` private key
    key_id: str | None = None
    assertion_alg: str = "RS256"
    post_logout_redirect_uri: str | None = None

    def __post_init__(self) -> None:
        # No JWKS cache: every check sees the keys published at that moment (rotation).
        self.jwks_client = jwt.PyJWKClient(self.provider.metadata["jwks_uri"],
                                           cache_jwk_set=False)

    # authorization request

    def begin(self, pkce: str | None = "S256", scope: str | None = None,
              with_nonce: bool = True, **params: str) -> AuthRequest:
        """The authorization URL (with fresh state, nonce and PKCE), built by oauthlib."""
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        oauth = WebApplicationClient(self.client_id)
        verifier = None
        if pkce is not None:
            verifier = oauth.create_code_verifier(64)
            params["code_challenge"] = oauth.create_code_challenge(verifier, pkce)
            params["code_challenge_method"] = pkce
        if with_nonce:
            params.setdefault("nonce", nonce)
        scope = scope or self.scope
        url = oauth.prepare_request_uri(
            self.provider.endpoint("authorization"), redirect_uri=self.redirect_uri,
            scope=scope, state=state, **params)
        return AuthRequest(url=url, state=state, nonce=params.get("nonce"),
                           code_verifier=verifier, scope=scope)

    def response_to(self, request: AuthRequest, arrival: Arrival | Any) -> dict[str, str]:
        """The authorization response's parameters, a code or an error, once its state
        and RFC 9207 iss are checked."""
        assert isinstance(arrival, Arrival), f"the client got no answer: {arrival}"
        assert arrival.url == self.redirect_uri
        params = arrival.params
        assert params.get("state") == request.state, params
        assert params.get("iss") == self.provider.issuer, params
        return params

    def code_from(self, request: AuthRequest, arrival: Arrival | Any) -> str:
        """Check the authorization response (state, RFC 9207 iss) and return the code."""
        if isinstance(arrival, Arrival) and "error" in arrival.params:
            raise ProviderError(f"authorization error {arrival.params}")
        return self.response_to(request, arrival)["code"]

    def ask(self, browser: Browser, **params: str) -> dict[str, str]:
        """An authorization request in `browser` as it stands (signed in or not); what
        comes back to the redirect URI, a code or an error."""
        request = self.begin(**params)
        return self.response_to(request, browser.authorize(request.url))

    def start(self, browser: Browser, **params: str) -> Page:
        """An authorization request in `browser`, signed in: the provider's first answer,
        a redirection to the page it must show (a profile choice, a refusal...)."""
        answer = browser.get(self.begin(**params).url)
        assert answer.status == 302, answer.html
        return answer

    def refusal(self, browser: Browser, **params: str) -> Page:
        """The page the provider shows instead of sending the person, signed in in
        `browser`, back to this application (403)."""
        page = browser.get(self.start(browser, **params).headers["Location"])
        assert page.status == 403, page.html
        return page

    # token endpoint

    def _session(self, scope: str) -> OAuth2Session:
        return OAuth2Session(self.client_id, redirect_uri=self.redirect_uri, scope=scope)

    def client_auth(self, audience: str | None = None) -> tuple[dict[str, str], Any]:
        """The body parameters and the `auth` of a request authenticated as this client."""
        if self.auth_method == "client_secret_basic":
            return {}, requests.auth.HTTPBasicAuth(self.client_id, self.client_secret or "")
        if self.auth_method == "client_secret_post":
            return {"client_id": self.client_id, "client_secret": self.client_secret or ""}, None
        if self.auth_method == "private_key_jwt":
            return {"client_id": self.client_id, "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": self.assertion(audience)}, None
        return {"client_id": self.client_id}, None

    def assertion(self, audience: str | None = None) -> str:
        """A private_key_jwt client assertion (RFC 7523), signed with PyJWT."""
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id,
                  "aud": audience or self.provider.endpoint("token"),
                  "jti": secrets.token_urlsafe(16), "iat": now, "exp": now + 60}
        return jwt.encode(claims, self.private_key, algorithm=self.assertion_alg,
                          headers={"kid": self.key_id} if self.key_id else None)

    def exchange(self, request: AuthRequest, code: str) -> Tokens:
        """Code for tokens with oauthlib's client, then verify the ID token."""
        body, auth = self.client_auth()
        extra = {k: v for k, v in body.items() if k != "client_id"}
        if request.code_verifier:
            extra["code_verifier"] = request.code_verifier
        raw = self._session(request.scope).fetch_token(
            self.provider.endpoint("token"), code=code, auth=auth,
            include_client_id="client_id" in body, **extra)
        return self.tokens(dict(raw), nonce=request.nonce)

    def token_request(self, data: dict[str, str]) -> requests.Response:
        """A raw POST to the token endpoint, authenticated as this client."""
        body, auth = self.client_auth()
        return requests.post(self.provider.endpoint("token"), data={**body, **data},
                             auth=auth, timeout=10)

    def refresh_request(self, refresh_token: str | None) -> requests.Response:
        """A refresh as sent on the wire, the provider's answer as it is."""
        assert refresh_token, "no refresh token was issued"
        return self.token_request({"grant_type": "refresh_token",
                                   "refresh_token": refresh_token})

    def refresh(self, refresh_token: str) -> Tokens:
        """Refresh, as sent on the wire (oauthlib's session would silently keep the old
        refresh token when none comes back, hiding a missing rotation)."""
        response = self.refresh_request(refresh_token)
        if response.status_code != 200:
            raise ProviderError(f"refresh refused: {response.status_code} {response.text}")
        return self.tokens(response.json(), nonce=None)

    def client_credentials(self, scope: str | None = None) -> dict[str, Any]:
        body, auth = self.client_auth()
        session = OAuth2Session(client=BackendApplicationClient(self.client_id))
        extra = {k: v for k, v in body.items() if k != "client_id"}
        return dict(session.fetch_token(self.provider.endpoint("token"), auth=auth,
                                        scope=scope, include_client_id="client_id" in body,
                                        **extra))

    def login(self, browser: Browser, identifier: str | None = None,
              profile: int | None = None, **params: str) -> Tokens:
        """The whole code flow: authorize in `browser` (signing in as `identifier` if the
        login page comes; none for a browser already signed in), exchange, verify."""
        request = self.begin(**params)
        arrival = browser.authorize(request.url, identifier, profile=profile)
        return self.exchange(request, self.code_from(request, arrival))

    # verification

    def tokens(self, raw: dict[str, Any], nonce: str | None) -> Tokens:
        assert raw["token_type"].lower() == "bearer"
        assert isinstance(raw.get("expires_in"), int)
        claims, header = self.verify_id_token(raw["id_token"], nonce=nonce,
                                              access_token=raw["access_token"])
        return Tokens(raw=raw, id_claims=claims, id_header=header)

    def _key(self, token: str) -> Any:
        header = jwt.get_unverified_header(token)
        assert header.get("kid"), "every token names its key"
        return self.jwks_client.get_signing_key_from_jwt(token).key

    def verify_id_token(self, token: str, nonce: str | None = None,
                        access_token: str | None = None,
                        algorithms: tuple[str, ...] = ("RS256", "ES256"),
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
        """OIDC Core 3.1.3.7: signature by a key of /jwks, iss, aud, exp, iat, nonce,
        at_hash."""
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(
            token, self._key(token), algorithms=list(algorithms), audience=self.client_id,
            issuer=self.provider.issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]})
        now = time.time()
        assert claims["iat"] <= now + 5 and claims["exp"] > now
        aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(aud) > 1:
            assert claims.get("azp") == self.client_id
        if nonce is not None:
            assert claims.get("nonce") == nonce, "the ID token must echo the request's nonce"
        if access_token is not None and "at_hash" in claims:
            assert claims["at_hash"] == token_hash(access_token)
        return claims, header

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """RFC 9068: typ at+jwt, signed by a key of /jwks, for us, from our issuer."""
        header = jwt.get_unverified_header(token)
        assert header.get("typ", "").lower() in ("at+jwt", "application/at+jwt")
        claims = jwt.decode(token, self._key(token), algorithms=["RS256"],
                            audience=self.client_id, issuer=self.provider.issuer,
                            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti",
                                                 "client_id"]})
        assert claims["client_id"] == self.client_id
        return claims

    def verify_logout_token(self, token: str) -> dict[str, Any]:
        """OpenID Connect Back-Channel Logout 1.0, 2.6: typ logout+jwt, signed by a key of
        /jwks, for us, from our issuer, the logout event, no nonce; and short-lived."""
        header = jwt.get_unverified_header(token)
        assert header["typ"] == "logout+jwt"
        assert header["alg"] == "RS256"
        claims = jwt.decode(token, self._key(token), algorithms=["RS256"],
                            audience=self.client_id, issuer=self.provider.issuer,
                            options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]})
        assert claims["events"] == {LOGOUT_EVENT: {}}
        assert "nonce" not in claims
        assert 0 < claims["exp"] - claims["iat"] <= 300
        return claims

    # resource endpoints

    def userinfo(self, access_token: str, method: str = "GET") -> requests.Response:
        return requests.request(method, self.provider.endpoint("userinfo"),
                                headers={"Authorization": f"Bearer {access_token}"},
                                timeout=10)

    def introspect(self, token: str, hint: str | None = None) -> requests.Response:
        body, auth = self.client_auth(self.provider.metadata["introspection_endpoint"])
        data = {**body, "token": token, **({"token_type_hint": hint} if hint else {})}
        return requests.post(self.provider.metadata["introspection_endpoint"], data=data,
                             auth=auth, timeout=10)

    def revoke(self, token: str, hint: str | None = None) -> requests.Response:
        body, auth = self.client_auth(self.provider.metadata["revocation_endpoint"])
        data = {**body, "token": token, **({"token_type_hint": hint} if hint else {})}
        return requests.post(self.provider.metadata["revocation_endpoint"], data=data,
                             auth=auth, timeout=10)


# --- the people and the clients of a scenario -----------------------------------------


@dataclass(frozen=True)
class People:
    """The ANCRE guide's directory, as plain values usable outside the app context.

    `person` holds two ANCRE profiles (X: Gestionnaire de fichiers, Y: Lecteur) and,
    on X only, a TDBESMS role; `conflicted` holds one profile with both exclusive ANCRE
    roles (legacy data); `spare` is a second person (one ANCRE profile, Lecteur)."""

    person: str
    profile_x: int
    profile_y: int
    label_x: str
    label_y: str
    entity_x: str
    entity_y: str
    finess_x: str
    finess_y: str
    ape_name: str
    ape_email: str
    conflicted: str
    conflicted_label: str
    spare: str


def ancre_people() -> People:
    """Build the directory (inside an app context) and copy out what tests need."""
    world = directory.ancre_world()
    conflicted = directory.account("Lucien", "Bernard")
    legacy = directory.profile(conflicted, world.etab_x, "Gestion ESAT",
                               "ANCRE/GESTIONNAIRE_FICHIERS")
    # Data from before the exclusive-role rule: bypasses services.grant, which refuses it.
    db.session.add(Habilitation(profile=legacy,
                                role=services.get_role("ANCRE", "LECTEUR")))
    spare = directory.account("Sophie", "Garnier")
    directory.profile(spare, world.etab_y, "Accueil", "ANCRE/LECTEUR")
    db.session.commit()
    ape_profile = world.ape.profiles[0]
    return People(
        person=world.person.identifier,
        profile_x=world.profile_x.id, profile_y=world.profile_y.id,
        label_x=world.profile_x.label, label_y=world.profile_y.label,
        entity_x=world.etab_x.name, entity_y=world.etab_y.name,
        finess_x=world.etab_x.finess or "", finess_y=world.etab_y.finess or "",
        ape_name=f"{world.ape.given_name} {world.ape.family_name}",
        ape_email=ape_profile.effective_email or "",
        conflicted=conflicted.identifier, conflicted_label=legacy.label,
        spare=spare.identifier,
    )


def client_key() -> tuple[Any, dict[str, Any]]:
    """A client's RSA key pair for private_key_jwt: the private key and its public JWK."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    public.update(kid=secrets.token_hex(8), alg="RS256", use="sig")
    return private, public


def register(provider: Provider, domains: tuple[str, ...] = ("ANCRE",), *,
             name: str = "ANCRE", auth_method: str = "client_secret_basic",
             redirect_uri: str | None = None, scope: str = SCOPE,
             post_logout_redirect_uri: str | None = None,
             **settings: Any) -> RelyingParty:
    """Register a client (as an administrator would, through the model) and return the
    relying application that uses it. `settings` are the client's other columns
    (first_party, backchannel_logout_uri...)."""
    redirect_uri = redirect_uri or f"https://{secrets.token_hex(4)}.rp.test/callback"
    private_key, public_jwk = client_key() if auth_method == "private_key_jwt" else (None, None)
    if post_logout_redirect_uri is not None:
        settings["post_logout_redirect_uris"] = [post_logout_redirect_uri]

    def work() -> tuple[str, str | None]:
        row, secret = directory.client(name, list(domains), [redirect_uri],
                                       public=auth_method == "none", **settings)
        row.token_endpoint_auth_method = auth_method
        if public_jwk is not None:
            row.client_secret_hash, secret = None, None
            row.jwks = {"keys": [public_jwk]}
        db.session.commit()
        return row.client_id, secret

    client_id, secret = provider.run(work)
    return RelyingParty(provider, client_id, secret, redirect_uri, auth_method=auth_method,
                        scope=scope, private_key=private_key,
                        key_id=public_jwk["kid"] if public_jwk else None,
                        post_logout_redirect_uri=post_logout_redirect_uri)


@dataclass
class Applications:
    """Élodie Martin (the ANCRE guide's person) and three applications of the TDBESMS
    domain, each with a return address after logout, for the logout and session tests."""

    identifier: str
    tdb: RelyingParty  # back-channel logout at <backchannel base>/tdb
    regional: RelyingParty  # back-channel logout at <backchannel base>/regional
    stats: RelyingParty  # no back-channel logout URI


def tdbesms_applications(op: Provider, backchannel_base: str | None = None,
                         first_party: bool = True, scope: str = "openid profile"
                         ) -> Applications:
    """Build the directory and register the three applications; with `backchannel_base`
    (a receiver's URL), tdb and regional are told of logouts there."""
    person = op.run(lambda: directory.ancre_world().person.identifier)
    parties = []
    for name, path in (("Tableau de bord ESMS", "tdb"), ("Portail ARS", "regional"),
                       ("Statistiques", None)):
        site = f"https://{name.split()[0].lower()}.example.fr"
        parties.append(register(
            op, ("TDBESMS",), name=name, scope=scope, first_party=first_party,
            redirect_uri=f"{site}/oidc/callback",
            post_logout_redirect_uri=f"{site}/au-revoir",
            backchannel_logout_uri=f"{backchannel_base}/{path}"
            if backchannel_base and path else None))
    return Applications(person, *parties)


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, read without checking it (to sort what a receiver got, say)."""
    return jwt.decode(token, options={"verify_signature": False})


def audit_events(op: Provider, action: str) -> list[dict[str, Any]]:
    """The details of the audit events recorded for `action`, oldest first."""
    return op.run(lambda: [e.details for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))])


def mail_subjects(op: Provider, identifier: str) -> list[str]:
    """The subjects of the mails queued for the account `identifier`, oldest first."""
    def work() -> list[str]:
        email = db.session.scalars(select(Account.email).where(
            Account.identifier == identifier)).one()
        return list(db.session.scalars(select(OutboxItem.subject).where(
            OutboxItem.recipient == email).order_by(OutboxItem.id)))

    return op.run(work)


@dataclass
class Scene:
    """A provider being served, with the people of the ANCRE guide in its directory."""

    op: Provider
    people: People


@contextmanager
def scene(instance_root: Path, database_url: str, redis_url: str = "",
          **sections: dict[str, Any]) -> Iterator[Scene]:
    """A provider with its people, for a fixture shared by many tests (they register their
    own clients, so that consents and profile choices never leak between them)."""
    with app_factory(instance_root) as make_app, serving(make_app) as serve:
        op = serve(database_url, redis_url, **sections)
        yield Scene(op, op.run(ancre_people))
