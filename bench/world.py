"""The data a benchmark run works on: a migrated database with the catalogue, signing
keys, one person with a profile, a relying application and a machine client (built in
process), and the tokens, codes and cookies the scenarios start from (obtained over
HTTP from the running provider, as a relying application and a browser get them)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import statistics
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import requests

from idp import migrations
from idp.app import create_app
from idp.clients import service as clients
from idp.core.audit import Actor
from idp.directory import services
from idp.directory.catalogue import load_catalogue
from idp.directory.enums import EntityType
from idp.directory.models import Entity
from idp.extensions import db
from idp.keys import service as keys

ACTOR = Actor(label="bench")
PASSWORD = "Banc-d-essai-2026!"
REDIRECT_URI = "https://rp.bench.test/callback"
# PKCE (S256), as every client sends it: one verifier serves all the bench's codes.
CODE_VERIFIER = "bench-" + "v" * 50
CODE_CHALLENGE = base64.urlsafe_b64encode(
    hashlib.sha256(CODE_VERIFIER.encode()).digest()).rstrip(b"=").decode()
SCOPE = "openid profile email habilitations"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class World:
    identifier: str
    rp_basic: str  # the relying application's Authorization header
    machine_basic: str  # the machine client's (client_credentials)
    rp_client_id: str


def build(settings: dict[str, dict[str, Any]], signing_alg: str) -> World:
    """Migrate the database of `settings` and fill it; `signing_alg` signs the relying
    application's ID tokens."""
    migrations.upgrade(settings["database"]["url"])
    app = create_app(settings)
    with app.app_context():
        load_catalogue(ACTOR)
        keys.ensure_keys(settings["keys"]["passphrase"], ACTOR)
        entity = Entity(code="BENCH", type=EntityType.NAT, name="Banc d'essai")
        db.session.add(entity)
        person = services.create_account(given_name="Banc", family_name="Essai",
                                         email="banc@example.test", password=PASSWORD,
                                         actor=ACTOR, password_min_length=12)
        profile = services.create_profile(person, entity, label="Essai", actor=ACTOR)
        services.grant(profile, services.get_role("ANCRE", "LECTEUR"), ACTOR)
        machine, machine_secret = clients.create_client(
            name="Machine", domains=["ANCRE"], grant_types=["client_credentials"],
            actor=ACTOR)
        rp, rp_secret = clients.create_client(
            name="Appli", domains=["ANCRE"], redirect_uris=[REDIRECT_URI], first_party=True,
            id_token_signed_response_alg=signing_alg, actor=ACTOR)
        db.session.commit()
        world = World(identifier=person.identifier,
                      rp_basic=basic(rp.client_id, rp_secret or ""),
                      machine_basic=basic(machine.client_id, machine_secret or ""),
                      rp_client_id=rp.client_id)
        db.session.remove()
        db.engine.dispose()
    return world


class Browser:
    """A person's browser signed in to the provider at `base`."""

    def __init__(self, base: str, world: World) -> None:
        self.base, self.world = base, world
        self.http = requests.Session()
        page = self.http.get(f"{base}/connexion", timeout=30).text
        response = self.http.post(f"{base}/connexion", allow_redirects=False, timeout=30,
                                  data={"csrf_token": _csrf(page),
                                        "identifier": world.identifier, "password": PASSWORD})
        if response.status_code != 302:
            raise RuntimeError(f"the bench login failed ({response.status_code})")

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)

    @property
    def authorize_path(self) -> str:
        """A silent authorization request (prompt=none): a code straight away."""
        return "/authorize?" + urlencode({
            "response_type": "code", "client_id": self.world.rp_client_id,
            "redirect_uri": REDIRECT_URI, "scope": SCOPE, "state": "bench",
            "nonce": secrets.token_urlsafe(8), "prompt": "none",
            "code_challenge": CODE_CHALLENGE, "code_challenge_method": "S256"})

    def code(self) -> str:
        url = self.base + self.authorize_path
        for _ in range(10):  # our own pages, until the redirection to the application
            response = self.http.get(url, allow_redirects=False, timeout=30)
            location = response.headers.get("Location", "")
            if location.startswith(REDIRECT_URI):
                return parse_qs(urlsplit(location).query)["code"][0]
            if response.status_code != 302:
                raise RuntimeError(f"authorization stopped at {url} ({response.status_code})")
            url = location if location.startswith("http") else self.base + location
        raise RuntimeError("too many redirections")

    def tokens(self) -> dict[str, Any]:
        response = requests.post(f"{self.base}/token", timeout=30, headers={
            "Authorization": self.world.rp_basic}, data={
            "grant_type": "authorization_code", "code": self.code(),
            "redirect_uri": REDIRECT_URI, "code_verifier": CODE_VERIFIER})
        response.raise_for_status()
        return response.json()


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    if not found:
        raise RuntimeError("no CSRF token on the login page")
    return found.group(1)


def scenario_data(scenario: str, browser: Browser, connections: int) -> dict[str, str]:
    """What the scenario's Lua script needs, fresh for each wrk run (tokens expire,
    refresh tokens are spent)."""
    world = browser.world
    if scenario == "client_credentials":
        return {"basic": world.machine_basic}
    if scenario == "refresh":
        # One independent grant per connection, and a few more.
        seeds = [browser.tokens()["refresh_token"] for _ in range(connections + 4)]
        return {"basic": world.rp_basic, "tokens": ",".join(seeds)}
    if scenario in ("userinfo", "introspection"):
        return {"basic": world.rp_basic, "access_token": browser.tokens()["access_token"]}
    if scenario == "silent_login":
        return {"basic": world.rp_basic, "cookie": browser.cookie,
                "authorize_path": browser.authorize_path, "redirect_uri": quote(REDIRECT_URI),
                "code_verifier": CODE_VERIFIER}
    if scenario == "password_login":
        return {"credentials": f"&identifier={quote(world.identifier)}"
                               f"&password={quote(PASSWORD)}"}
    raise ValueError(scenario)


def hash_cpu_seconds() -> float:
    """The CPU time of one password hash with the configured parameters (all its lanes'
    threads), the median of three: what a login must pay at least."""
    from idp.directory import passwords

    times = []
    for _ in range(3):
        started = time.process_time()
        passwords.hash_password(PASSWORD)
        times.append(time.process_time() - started)
    return statistics.median(times)
