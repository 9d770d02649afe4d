"""Benchmark of the token endpoint, in process (the provider's own cost, no network).

    python bench/token_endpoint.py [-n 500] [--database-url postgresql+psycopg://...]
                                   [--redis-url redis://...]

On a fresh database (SQLite by default) it registers a machine client and a relying
application, signs a person in once (the login page), then times N client_credentials
grants (a signed JWT access token each) and N refresh-token rotations (a new refresh
token, a new access token and a new ID token each, the reuse check and the provider
session's), and prints tokens/second and the median and 95th percentile latency of each.
"""

from __future__ import annotations

import argparse
import base64
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from idp.oidc import grants_store
from idp.oidc.grants_store import AuthorizationCode

ACTOR = Actor(label="bench")
PASSWORD = "Banc-d-essai-2026!"


def basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def timed(label: str, n: int, call: Callable[[], Any]) -> None:
    latencies = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"{label:<28} {n / elapsed:8.1f} tokens/s   median "
          f"{statistics.median(latencies) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms")


def sign_in(http: Any, identifier: str) -> str:
    """Sign in through the login page; the OIDC sid of the provider session, which a
    refresh without offline_access needs alive."""
    page = http.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    response = http.post("/connexion", data={"csrf_token": token.group(1),
                                             "identifier": identifier, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    with http.session_transaction() as session:
        return session["login"]["sid"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        migrations.upgrade(url)
        app = create_app({"server": {"instance_path": tmp, "secret_key": "bench"},
                          "database": {"url": url}, "redis": {"url": args.redis_url},
                          "keys": {"passphrase": "bench"}})
        with app.app_context():
            load_catalogue(ACTOR)
            keys.ensure_keys("bench", ACTOR)
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
                name="Appli", domains=["ANCRE"], redirect_uris=["https://rp.test/cb"],
                first_party=True, actor=ACTOR)
            db.session.commit()
            ids = (machine.client_id, machine_secret, rp.client_id, rp_secret)
            person_id, profile_id, identifier = person.id, profile.id, person.identifier
        machine_id, machine_secret, rp_id, rp_secret = ids
        http = app.test_client()
        sid = sign_in(http, identifier)
        with app.app_context():
            # A grant as a completed authorization leaves it (that part is not timed).
            grant = grants_store.create_grant(AuthorizationCode(
                account_id=person_id, profile_id=profile_id,
                scope="openid profile habilitations", sid=sid, auth_time=int(time.time()),
                acr="eidas1", amr=["pwd"], client_id=rp_id))
            refresh = grants_store.issue_refresh_token(grant)
            db.session.commit()

        def client_credentials() -> None:
            response = http.post("/token", data={"grant_type": "client_credentials"},
                                 headers=basic(machine_id, machine_secret or ""))
            assert response.status_code == 200, response.get_data(as_text=True)

        state = {"refresh": refresh}

        def rotate() -> None:
            response = http.post("/token", data={"grant_type": "refresh_token",
                                                 "refresh_token": state["refresh"]},
                                 headers=basic(rp_id, rp_secret or ""))
            assert response.status_code == 200, response.get_data(as_text=True)
            state["refresh"] = response.get_json()["refresh_token"]

        backend = ("PostgreSQL" if url.startswith("postgresql") else "SQLite") + (
            " + Redis" if args.redis_url else "")
        print(f"token endpoint, {backend}, {args.n} requests each, one process")
        timed("client_credentials", args.n, client_credentials)
        timed("refresh_token rotation", args.n, rotate)
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
