"""Deactivating a profile ends what was issued for it (issue 9, "Tests"): the provider
and a relying application's back-channel receiver over real HTTP; the application's
refresh and access tokens stop working at once and it receives a logout token for the
session; the person can no longer sign in to it with that profile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt as pyjwt
from flask import Flask
from sqlalchemy import select

from idp.core.audit import AuditEvent
from idp.extensions import db
from idp.outbox import service as outbox
from tests.support import directory as d
from tests.support.html import csrf_token
from tests.support.logout import Browser, Provider, Receiver, RelyingParty, userinfo
from tests.test_access_denied_pages import denied_page


def test_deactivating_a_profile_ends_its_tokens_and_logs_its_applications_out(
        make_app: Callable[..., Flask], sqlite_url: str,
        live_server: Callable[[Any], str]) -> None:
    app = make_app(sqlite_url)
    op = Provider(app, live_server(app))
    receiver = Receiver()
    receiver_base = live_server(receiver.app)

    def build() -> dict[str, Any]:
        world = d.ancre_world()
        uri = "https://tdb.example.fr/oidc/callback"
        client, secret = d.client("Tableau de bord ESMS", ["TDBESMS"], [uri],
                                  backchannel_logout_uri=f"{receiver_base}/tdb")
        assert secret is not None
        db.session.commit()
        # Élodie's only TDBESMS profile is the one on Les Tilleuls.
        return {"tdb": RelyingParty(client.client_id, secret, uri),
                "person": world.person.identifier,
                "ape": world.ape.identifier, "profile_x": world.profile_x.id}

    w = op.run(build)
    tdb: RelyingParty = w["tdb"]
    person = Browser(op)
    person.login(w["person"])
    online = person.sign_in(tdb)
    offline = person.sign_in(tdb, scope="openid profile offline_access")
    assert userinfo(op, online["access_token"]).status_code == 200

    ape = Browser(op)
    ape.login(w["ape"])
    page = ape.get(f"/profils/{w['profile_x']}/habilitations")
    done = ape.post(f"/profils/{w['profile_x']}/desactiver",
                    {"csrf_token": csrf_token(page.text)})
    assert done.status_code == 302

    # The application's tokens made with the profile end at once, offline ones too.
    for tokens in (online, offline):
        assert userinfo(op, tokens["access_token"]).status_code == 401
        refused = tdb.refresh(op, tokens["refresh_token"])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # The application is told to end the session the tokens came from.
    [token] = receiver.wait_for(1)
    claims = pyjwt.decode(token, options={"verify_signature": False})
    sid = pyjwt.decode(online["id_token"], options={"verify_signature": False})["sid"]
    assert claims["sid"] == sid and claims["sub"] == w["person"]
    assert claims["aud"] == tdb.client_id
    # She can no longer sign in to it with that profile: no other holds a TDBESMS role.
    assert "Aucun droit valide" in denied_page(person, tdb).text

    revoked = op.run(lambda: [e.details for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "profile.grants_revoked"))])
    assert revoked == [{"revoked_grants": 2}]
    assert outbox.wait_idle(20)
