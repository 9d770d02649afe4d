"""Deactivating a profile ends what was issued for it (issue 9, "Tests"): the provider
and a relying application's back-channel receiver over real HTTP; the application's
refresh and access tokens stop working at once and it receives a logout token for the
session; the person can no longer sign in to it with that profile."""

from __future__ import annotations

from idp.outbox import service as outbox
from tests.support import directory as d
from tests.support.html import csrf_token
from tests.support.oidc import Browser, Serve, audit_events, register
from tests.support.receivers import Receivers


def test_deactivating_a_profile_ends_its_tokens_and_logs_its_applications_out(
        serve: Serve, sqlite_url: str, receiver: Receivers) -> None:
    op = serve(sqlite_url)
    rec, base = receiver()

    def build() -> tuple[str, str, int]:
        world = d.ancre_world()
        # Élodie's only TDBESMS profile is the one on Les Tilleuls.
        return world.person.identifier, world.ape.identifier, world.profile_x.id

    identifier, ape_identifier, profile_x = op.run(build)
    tdb = register(op, ("TDBESMS",), name="Tableau de bord ESMS", scope="openid profile",
                   redirect_uri="https://tdb.example.fr/oidc/callback",
                   backchannel_logout_uri=f"{base}/tdb")
    person = Browser(op)
    person.sign_in(identifier)
    online = tdb.login(person)
    offline = tdb.login(person, scope="openid profile offline_access")
    assert tdb.userinfo(online.access_token).status_code == 200

    ape = Browser(op)
    ape.sign_in(ape_identifier)
    page = ape.get(f"/profils/{profile_x}/habilitations")
    done = ape.post(f"/profils/{profile_x}/desactiver",
                    {"csrf_token": csrf_token(page.html)})
    assert done.status == 302

    # The application's tokens made with the profile end at once, offline ones too.
    for tokens in (online, offline):
        assert tdb.userinfo(tokens.access_token).status_code == 401
        refused = tdb.refresh_request(tokens.refresh_token)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # The application is told to end the session the tokens came from.
    [token] = rec.wait_for(1)
    claims = tdb.verify_logout_token(token)
    sid = online.id_claims["sid"]
    assert claims["sid"] == sid and claims["sub"] == identifier
    assert claims["aud"] == tdb.client_id
    # She can no longer sign in to it with that profile: no other holds a TDBESMS role.
    assert "Aucun droit valide" in tdb.refusal(person, scope="openid").html

    revoked = audit_events(op, "profile.grants_revoked")
    assert revoked == [{"revoked_grants": 2}]
    assert outbox.wait_idle(20)
