"""The holder of a profile hears by mail of each change an administrator makes to it:
deactivated, reactivated, an administrator role, roles in an application; one mail per
change, through the outbox to the real SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

import pytest
from flask.testing import FlaskClient

from idp.directory.models import Profile
from idp.extensions import db
from tests.support.services import SmtpSink, body_of
from tests.test_profiles_pages import build, save, signed_in
from tests.test_requests_pages import post


@pytest.fixture
def world(make_app: Any, database_url: str, smtp_sink: SmtpSink) -> Iterator[SimpleNamespace]:
    app = make_app(database_url, mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                                       "smtp_port": smtp_sink.port})
    w = build(app)
    with app.app_context():
        def holder(profile_id: int) -> tuple[str, str, str]:
            p = db.session.get(Profile, profile_id)
            return p.effective_email, p.label, p.entity.display_name  # type: ignore[union-attr]

        w.jeanne_email, w.jeanne_label, w.tilleuls = holder(w.jeanne_profile)
        w.elodie_email, w.elodie_label, _ = holder(w.profile_x)
        w.paul_email, _, _ = holder(w.paul_x)
    yield w


def one_new_mail(sink: SmtpSink, change: Any) -> EmailMessage:
    """Make the change; exactly one mail must have left for it."""
    before = len(sink.messages)
    change()
    received = sink.received()
    assert len(received) == before + 1, [m["Subject"] for m in received[before:]]
    return received[-1]


def subject(message: EmailMessage) -> str:
    """The subject as a mail program shows it (a long one comes folded over lines)."""
    return " ".join(message["Subject"].split())


def state_change(client: FlaskClient, profile_id: int, action: str) -> Any:
    return post(client, f"/profils/{profile_id}/habilitations", {},
                f"/profils/{profile_id}/{action}")


def test_each_change_to_a_profile_is_mailed_to_its_holder(world: SimpleNamespace,
                                                          smtp_sink: SmtpSink) -> None:
    ape = signed_in(world, world.ape)

    granted = one_new_mail(smtp_sink, lambda: save(
        ape, world, world.jeanne_profile, "ANCRE", add=["ANCRE/GESTIONNAIRE_FICHIERS"]))
    body = " ".join(body_of(granted).split())
    assert granted["To"] == world.jeanne_email
    assert subject(granted) == "PLAGE – Nouvelle habilitation dans ANCRE"
    assert (f"Paul Durand, administrateur de {world.tilleuls}, a attribué à votre profil "
            f"« {world.jeanne_label} » le rôle suivant dans ANCRE : - Gestionnaire de "
            "fichiers") in body
    assert f"identifiant Plage {world.jeanne}" in body
    assert f"/compte/?profil={world.jeanne_profile}" in body

    admin = one_new_mail(smtp_sink, lambda: save(
        ape, world, world.jeanne_profile, "ADMINISTRATION",
        add=["ADMINISTRATION/ADMINISTRATEUR"]))
    assert admin["To"] == world.jeanne_email
    assert subject(admin) == f"PLAGE – Vous êtes administrateur de {world.tilleuls}"
    assert "/profils/gestion" in body_of(admin)

    deactivated = one_new_mail(smtp_sink, lambda: state_change(ape, world.profile_x,
                                                               "desactiver"))
    assert deactivated["To"] == world.elodie_email
    assert subject(deactivated) == (f"PLAGE – Votre profil « {world.elodie_label} » a été "
                                      "désactivé")
    assert "Vous ne pouvez plus vous connecter aux applications avec ce profil" in " ".join(
        body_of(deactivated).split())

    reactivated = one_new_mail(smtp_sink, lambda: state_change(ape, world.profile_x,
                                                               "reactiver"))
    assert reactivated["To"] == world.elodie_email
    assert "a été réactivé" in subject(reactivated)
    assert "- ANCRE – Gestionnaire de fichiers" in body_of(reactivated)


def test_a_deactivation_from_the_review_of_rights_is_mailed_too(world: SimpleNamespace,
                                                                smtp_sink: SmtpSink) -> None:
    ape = signed_in(world, world.ape)
    deactivated = one_new_mail(smtp_sink, lambda: post(
        ape, "/revue-des-habilitations", {"liste": "inactifs"},
        f"/revue-des-habilitations/profils/{world.jeanne_profile}/desactiver"))
    assert deactivated["To"] == world.jeanne_email
    assert subject(deactivated) == (f"PLAGE – Votre profil « {world.jeanne_label} » a été "
                                      "désactivé")


def test_what_changes_nothing_for_the_holder_is_not_mailed(world: SimpleNamespace,
                                                          smtp_sink: SmtpSink) -> None:
    ape = signed_in(world, world.ape)
    # A role taken away, a refused change, a change refused by a rule, and the
    # administrator's own profile: no mail.
    assert save(ape, world, world.profile_x, "ANCRE").status_code == 302
    assert save(ape, world, world.jeanne_profile, "ANCRE",
                add=["ANCRE/GESTIONNAIRE_FICHIERS", "ANCRE/LECTEUR"]).status_code == 400
    state_change(ape, world.paul_x, "desactiver")
    assert save(ape, world, world.paul_x, "ANCRE", add=["ANCRE/LECTEUR"]).status_code == 302
    assert smtp_sink.received() == []
