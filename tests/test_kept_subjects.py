"""The token paths keep each subject's claims in memory (idp.oidc.subjects), under two
counters the database moves on itself: whatever changes the person, a profile, its
habilitations, an entity, a role or a domain, by the ORM or by plain SQL behind it,
the very next userinfo or refresh says so, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from idp.core.audit import Actor
from idp.directory import services
from idp.directory.enums import EntityType, ProfileState
from idp.directory.models import Account, Profile
from idp.extensions import db
from tests.support import directory
from tests.test_token_paths import REDIRECT_URI, TokenWorld, ready

ACTOR = Actor(label="test")


class Holder(TokenWorld):
    """A person with one profile, signed in to an ANCRE application: her access token
    and refresh token, and the means to use them."""

    def __init__(self, app: Flask) -> None:
        ready(app)
        person = directory.account("Claire", "Gardée")
        self.entity = directory.entity("E-KEPT", EntityType.NAT, "Direction d'essai")
        profile = directory.profile(person, self.entity, "Essai", "ANCRE/LECTEUR")
        rp, secret = directory.client("Appli", ["ANCRE", "TDBESMS"], [REDIRECT_URI])
        db.session.commit()
        basic = base64.b64encode(f"{rp.client_id}:{secret}".encode()).decode()
        super().__init__(person, profile, rp, {"Authorization": f"Basic {basic}"})
        self.http: FlaskClient = app.test_client()
        verifier = secrets.token_urlsafe(40)
        response = self.http.post("/token", headers=self.auth, data={
            "grant_type": "authorization_code", "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "code": self.code(verifier, "openid profile email habilitations offline_access")})
        assert response.status_code == 200, response.get_data(as_text=True)
        self.access = response.get_json()["access_token"]
        self.refresh_token = response.get_json()["refresh_token"]

    def userinfo(self) -> dict[str, Any] | None:
        response = self.http.get("/userinfo",
                                 headers={"Authorization": f"Bearer {self.access}"})
        return response.get_json() if response.status_code == 200 else None

    def refresh(self) -> dict[str, Any] | None:
        """The claims of the new access token, or None if the refresh was refused."""
        response = self.http.post("/token", headers=self.auth, data={
            "grant_type": "refresh_token", "refresh_token": self.refresh_token})
        if response.status_code != 200:
            return None
        self.refresh_token = response.get_json()["refresh_token"]
        return jwt.decode(response.get_json()["access_token"],
                          options={"verify_signature": False})


def _sql(statement: str, **values: Any) -> None:
    """What an operator types in psql or sqlite3, behind the application's back."""
    db.session.execute(text(statement), values)
    db.session.commit()


def _rename_entity(holder: Holder) -> None:
    holder.entity.name = "Direction renommée"
    db.session.commit()


def _rename_entity_by_sql(holder: Holder) -> None:
    _sql("UPDATE entities SET name = 'Direction renommée' WHERE id = :id", id=holder.entity.id)


def _give_role(holder: Holder) -> None:
    services.grant(holder.profile, services.get_role("TDBESMS", "GESTIONNAIRE_FICHIERS"),
                   ACTOR)
    db.session.commit()


def _rename_role_by_sql(holder: Holder) -> None:
    _sql("UPDATE roles SET code = 'LECTEUR2' WHERE domain_code = 'ANCRE' AND code = 'LECTEUR'")


def _change_email(holder: Holder) -> None:
    holder.person.email = "claire.nouvelle@example.test"
    db.session.commit()


def _change_profile_email_by_sql(holder: Holder) -> None:
    _sql("UPDATE profiles SET email = 'claire.nouvelle@example.test' WHERE id = :id",
         id=holder.profile.id)


def _withdraw_role(holder: Holder) -> None:
    services.revoke(holder.profile, services.get_role("ANCRE", "LECTEUR"), ACTOR)
    db.session.commit()


def _withdraw_role_by_sql(holder: Holder) -> None:
    _sql("DELETE FROM habilitations WHERE profile_id = :id", id=holder.profile.id)


def _conflicting_role_by_sql(holder: Holder) -> None:
    """Two roles of one exclusive group (the catalogue's ANCRE « acces »)."""
    role = services.get_role("ANCRE", "GESTIONNAIRE_FICHIERS")
    _sql("INSERT INTO habilitations (profile_id, role_id, granted_at) VALUES (:p, :r, :t)",
         p=holder.profile.id, r=role.id, t=datetime.now(UTC))


def _deactivate_profile(holder: Holder) -> None:
    db.session.get(Profile, holder.profile.id).state = ProfileState.INACTIVE
    db.session.commit()


def _close_account_by_sql(holder: Holder) -> None:
    _sql("UPDATE accounts SET state = 'inactif' WHERE id = :id", id=holder.person.id)


# (change, the claim it changes, its new value); access tokens carry the entity and the
# roles, not the email.
CHANGES: list[tuple[Callable[[Holder], None], tuple[str, ...], Any]] = [
    (_rename_entity, ("entity", "name"), "Direction renommée"),
    (_rename_entity_by_sql, ("entity", "name"), "Direction renommée"),
    (_give_role, ("roles",), {"ANCRE": ["LECTEUR"], "TDBESMS": ["GESTIONNAIRE_FICHIERS"]}),
    (_rename_role_by_sql, ("roles",), {"ANCRE": ["LECTEUR2"]}),
    (_change_email, ("email",), "claire.nouvelle@example.test"),
    (_change_profile_email_by_sql, ("email",), "claire.nouvelle@example.test"),
]


def _claim(claims: dict[str, Any], path: tuple[str, ...]) -> Any:
    for name in path:
        claims = claims[name]
    return claims
WITHDRAWALS = [_withdraw_role, _withdraw_role_by_sql, _conflicting_role_by_sql, _deactivate_profile,
               _close_account_by_sql]


@pytest.mark.parametrize(("change", "claim", "expected"), CHANGES,
                         ids=[c[0].__name__.strip("_") for c in CHANGES])
def test_a_change_is_in_the_next_userinfo_and_refresh(
        app: Flask, change: Callable[[Holder], None], claim: tuple[str, ...],
        expected: Any) -> None:
    holder = Holder(app)
    before = holder.userinfo()
    assert before is not None and _claim(before, claim) != expected
    refreshed = holder.refresh()  # kept now by both paths
    assert refreshed is not None and "roles" in refreshed

    change(holder)

    after = holder.userinfo()
    assert after is not None and _claim(after, claim) == expected
    refreshed = holder.refresh()
    assert refreshed is not None
    if claim[0] in refreshed:
        assert _claim(refreshed, claim) == expected


@pytest.mark.parametrize("withdraw", WITHDRAWALS, ids=[w.__name__.strip("_")
                                                      for w in WITHDRAWALS])
def test_withdrawn_rights_end_userinfo_and_refresh_at_once(
        app: Flask, withdraw: Callable[[Holder], None]) -> None:
    holder = Holder(app)
    assert holder.userinfo() is not None and holder.refresh() is not None

    withdraw(holder)

    assert holder.userinfo() is None
    assert holder.refresh() is None


def test_the_counters_move_only_for_the_person_concerned(app: Flask) -> None:
    """A change of one person's rights leaves everyone else's kept claims alone; a
    change of the entities, roles or domains moves the one directory epoch."""
    holder = Holder(app)
    other = directory.account("Autre", "Personne")
    db.session.commit()

    def counters() -> tuple[int, int, int]:
        return (db.session.scalar(text("SELECT rights_version FROM accounts WHERE id = :i"),
                                  {"i": holder.person.id}),
                db.session.scalar(text("SELECT rights_version FROM accounts WHERE id = :i"),
                                  {"i": other.id}),
                db.session.scalar(text("SELECT value FROM directory_epoch")))

    start = counters()
    _give_role(holder)
    mine, others, epoch = counters()
    assert mine > start[0] and others == start[1] and epoch == start[2]
    _rename_entity_by_sql(holder)
    assert counters()[2] > epoch and counters()[:2] == (mine, others)
    db.session.get(Account, other.id).phone = "0102030405"
    db.session.commit()
    assert counters()[0] == mine and counters()[1] > others
