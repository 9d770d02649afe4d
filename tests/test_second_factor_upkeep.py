"""The second factor's upkeep: new recovery codes without disabling, remembered devices
forgotten when the password changes or the factor is reset, an administrator's reset
from the profile's page, and the sealing key derived once per process. Driven over HTTP
as a person would, with the helpers of tests/test_second_factor.py (pyotp plays the
phone).
"""

from __future__ import annotations

import json
import secrets
import time
from http.cookiejar import Cookie
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from idp.core.audit import Actor, AuditEvent
from idp.directory import services
from idp.directory.models import Account, Entity
from idp.extensions import db
from idp.keys import sealing
from idp.mfa import service as second_factor
from idp.mfa.models import RecoveryCode
from idp.outbox.models import OutboxItem
from tests.support import directory
from tests.support.html import csrf_token
from tests.support.oidc import Browser, Page, Provider, Scene, mail_subjects, register
from tests.test_profiles_pages import build, signed_in
from tests.test_requests_pages import ANY_FORM, post, text
from tests.test_second_factor import (
    CODE_PAGE,
    ENROL_PAGE,
    RECOVERY,
    audit,
    enrol,
    enrolled_person,
    new_person,
    password_then_code,
    through_code_page,
)

NEW_PASSWORD = "Un-Autre-Mot-De-Passe-2026"


def remembered_device(op: Provider, identifier: str, code: str) -> Cookie:
    """Sign in with the code, « Se souvenir de cet appareil » ticked: the cookie."""
    browser = Browser(op)
    signed = password_then_code(browser, identifier, code, remember="y")
    assert isinstance(signed, Page) and signed.status == 200, signed
    return next(c for c in browser.http.cookies if c.name == "plage_appareil")


def code_asked(op: Provider, identifier: str, device: Cookie,
               password: str = directory.PASSWORD) -> bool:
    """Sign in on the remembered device: is the code asked after the password?"""
    browser = Browser(op)
    browser.http.cookies.set_cookie(device)
    page = browser.open(op.issuer + "/connexion")
    assert isinstance(page, Page)
    answer = browser.login(page, identifier, password)
    assert isinstance(answer, Page) and answer.status == 200, answer
    return answer.url.endswith(CODE_PAGE)


def account_of(identifier: str) -> Account:
    return db.session.scalars(select(Account).where(Account.identifier == identifier)).one()


# --- remembered devices ---------------------------------------------------------------


def test_changing_the_password_forgets_the_remembered_devices(any_scene: Scene) -> None:
    op = any_scene.op
    identifier, app, codes = enrolled_person(op)
    device = remembered_device(op, identifier, app.code())
    assert not code_asked(op, identifier, device)

    browser = Browser(op)
    password_then_code(browser, identifier, codes[0])
    page = browser.open(op.issuer + "/compte/mot-de-passe")
    assert isinstance(page, Page)
    changed = browser.submit(page, form_index=page.form_with("current"),
                             current=directory.PASSWORD, password=NEW_PASSWORD,
                             confirm=NEW_PASSWORD)
    assert isinstance(changed, Page) and changed.status == 200, changed

    assert code_asked(op, identifier, device, NEW_PASSWORD)


def test_a_password_set_by_any_way_forgets_them_too(sqlite: Scene) -> None:
    """The reset link, the demo's reset, an operator: every way sets the password with
    the directory's `set_password`, and the device is bound to the password itself."""
    op = sqlite.op
    identifier, app, _ = enrolled_person(op)
    device = remembered_device(op, identifier, app.code())
    op.run(lambda: (services.set_password(account_of(identifier), NEW_PASSWORD,
                                          Actor(label="test"), 12), db.session.commit()))
    assert code_asked(op, identifier, device, NEW_PASSWORD)


def test_disabling_then_enrolling_again_forgets_the_remembered_devices(
        sqlite: Scene) -> None:
    op = sqlite.op
    identifier, app, codes = enrolled_person(op)
    device = remembered_device(op, identifier, app.code())

    browser = Browser(op)
    password_then_code(browser, identifier, codes[0])
    page = browser.open(op.issuer + ENROL_PAGE)
    assert isinstance(page, Page)
    browser.submit(page, form_index=page.form_with("proof"), proof=directory.PASSWORD)
    enrol(browser)

    assert code_asked(op, identifier, device)


# --- the sealing key ------------------------------------------------------------------


def test_a_code_check_derives_no_key(sqlite: Scene) -> None:
    """The key that opens the second factor's secrets is derived once per process
    (PBKDF2 at 600,000 iterations, ~0.1 s): the codes of two people cost none."""
    op = sqlite.op
    people = [enrolled_person(op) for _ in range(2)]
    derived = sealing._key.cache_info().misses
    for identifier, app, _ in people:
        signed = password_then_code(Browser(op), identifier, app.code())
        assert isinstance(signed, Page) and signed.url.endswith("/compte/"), signed
    assert sealing._key.cache_info().misses == derived



# --- new recovery codes ---------------------------------------------------------------


def test_new_recovery_codes_replace_the_old_ones_and_keep_the_second_factor(
        any_scene: Scene) -> None:
    op = any_scene.op
    identifier, app, old = enrolled_person(op)
    browser = Browser(op)
    password_then_code(browser, identifier, old[0])
    page = browser.open(op.issuer + ENROL_PAGE)
    assert isinstance(page, Page) and "Générer de nouveaux codes de secours" in page.text
    renew = page.form_with("renew-proof")

    wrong = browser.submit(page, form_index=renew, **{"renew-proof": "pas le bon"})
    assert isinstance(wrong, Page) and wrong.status == 401
    assert "Le mot de passe ou le code saisi est incorrect." in wrong.text
    assert len(RECOVERY.findall(wrong.html)) == 0

    shown = browser.submit(page, form_index=renew, **{"renew-proof": directory.PASSWORD})
    assert isinstance(shown, Page) and shown.status == 200, shown
    new = RECOVERY.findall(shown.html)
    assert len(set(new)) == 10 and not set(new) & set(old)
    assert "les anciens ne fonctionnent plus" in shown.text
    again = browser.open(op.issuer + ENROL_PAGE)
    assert isinstance(again, Page) and "10</strong> sur 10" in again.html
    assert not RECOVERY.findall(again.html)  # shown once

    assert audit(op, identifier)[-1] == "second_factor.recovery_codes_renewed"
    assert "PLAGE – Nouveaux codes de secours" in mail_subjects(op, identifier)
    refused = password_then_code(Browser(op), identifier, old[1])
    assert isinstance(refused, Page) and refused.status == 401
    signed = password_then_code(Browser(op), identifier, new[0])
    assert isinstance(signed, Page) and signed.url.endswith("/compte/"), signed
    still = password_then_code(Browser(op), identifier, app.code())  # the app still works
    assert isinstance(still, Page) and still.url.endswith("/compte/"), still


def test_new_recovery_codes_may_be_asked_with_a_code_of_the_app(sqlite: Scene) -> None:
    op = sqlite.op
    identifier, app, old = enrolled_person(op)
    browser = Browser(op)
    password_then_code(browser, identifier, old[0])
    page = browser.open(op.issuer + ENROL_PAGE)
    assert isinstance(page, Page)
    empty = browser.submit(page, form_index=page.form_with("renew-proof"))
    assert isinstance(empty, Page) and empty.status == 400
    assert 'aria-describedby="renew-proof-hint renew-proof-error"' in empty.html
    shown = browser.submit(page, form_index=page.form_with("renew-proof"),
                           **{"renew-proof": app.code()})
    assert isinstance(shown, Page) and len(RECOVERY.findall(shown.html)) == 10


def test_without_a_second_factor_there_are_no_codes_to_renew(sqlite: Scene) -> None:
    op = sqlite.op
    identifier = new_person(op)
    browser = Browser(op)
    browser.sign_in(identifier)
    page = browser.open(op.issuer + ENROL_PAGE)
    assert isinstance(page, Page)
    answer = browser.post(ENROL_PAGE + "/codes-de-secours", {
        "csrf_token": csrf_token(page.html), "renew-proof": directory.PASSWORD})
    assert answer.status == 302 and answer.headers["Location"].endswith(ENROL_PAGE)
    assert op.run(lambda: db.session.scalars(select(RecoveryCode).where(
        RecoveryCode.account_id == account_of(identifier).id)).all()) == []


# --- an administrator's reset, from the profile's page --------------------------------


def enrolled_directly(app: Flask, identifier: str) -> str:
    """Enrol a person of the profiles' world as the page would: a first code confirms.
    The secret, for the next code (of the next step: this one is used)."""
    with app.app_context():
        account = account_of(identifier)
        passphrase = app.config["IDP"]["keys"]["passphrase"]
        secret = second_factor.pending_secret(account, passphrase)
        assert second_factor.confirm(account, pyotp.TOTP(secret).now(), passphrase,
                                     Actor(label="test"))
        db.session.commit()
        return secret


def has_second_factor(app: Flask, identifier: str) -> bool:
    with app.app_context():
        return second_factor.enrolled(account_of(identifier)) is not None


@pytest.fixture
def profiles_world(make_app: Any, database_url: str) -> SimpleNamespace:
    """Paul Durand, APE of EHPAD Les Tilleuls; Élodie Martin, with a profile there and one
    on EHPAD Le Verger (Yves Roux's), enrolled; Jeanne Petit administers nothing."""
    world = build(make_app(database_url))
    enrolled_directly(world.app, world.person)
    return world


def test_an_administrator_resets_the_second_factor_of_a_person_of_his_entity(
        profiles_world: SimpleNamespace) -> None:
    w = profiles_world
    ape = signed_in(w, w.ape)
    page = text(ape.get(f"/profils/{w.profile_x}/habilitations"))
    assert "Réinitialiser la double authentification" in page
    confirm = ape.get(f"/profils/{w.profile_x}/double-authentification")
    assert confirm.status_code == 200 and "Confirmer la réinitialisation" in text(confirm)
    assert has_second_factor(w.app, w.person)  # looking is not doing

    done = post(ape, f"/profils/{w.profile_x}/double-authentification", {})
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/profils/{w.profile_x}/habilitations")
    assert "est réinitialisée" in text(ape.get(done.headers["Location"]))
    assert not has_second_factor(w.app, w.person)
    with w.app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "second_factor.reset")).all()
        assert (event.target_id, event.actor_id) == (w.person, account_of(w.ape).id)
        assert db.session.scalars(select(OutboxItem.subject).where(
            OutboxItem.recipient == account_of(w.person).email
        ).order_by(OutboxItem.id)).all()[-1] \
            == "PLAGE – Double authentification désactivée"
    signed = post(w.app.test_client(), "/connexion",
                  {"identifier": w.person, "password": directory.PASSWORD})
    assert signed.status_code == 302 and signed.headers["Location"] != CODE_PAGE
    assert "Réinitialiser la double authentification" not in text(
        ape.get(f"/profils/{w.profile_x}/habilitations"))
    again = post(ape, f"/profils/{w.profile_x}/habilitations",
                 {}, f"/profils/{w.profile_x}/double-authentification")
    assert "rien à réinitialiser" in text(ape.get(again.headers["Location"]))


def test_only_an_administrator_of_one_of_her_entities_may_reset_it(
        profiles_world: SimpleNamespace) -> None:
    w = profiles_world
    reset = f"/profils/{w.profile_x}/double-authentification"
    for who in (signed_in(w, w.yves), signed_in(w, w.jeanne)):  # Le Verger's APE, nobody
        assert who.get(reset).status_code == 403
        assert post(who, ANY_FORM, {}, reset).status_code == 403
    assert has_second_factor(w.app, w.person)
    # Yves administers Le Verger, where she holds her other profile: there, he may.
    yves = signed_in(w, w.yves)
    assert post(yves, ANY_FORM, {}, f"/profils/{w.profile_y}/double-authentification"
                ).status_code == 302
    assert not has_second_factor(w.app, w.person)


def test_an_administrator_s_own_second_factor_is_not_reset_from_here(
        profiles_world: SimpleNamespace) -> None:
    w = profiles_world
    secret = enrolled_directly(w.app, w.ape)
    ape = w.app.test_client()
    assert post(ape, "/connexion", {"identifier": w.ape, "password": directory.PASSWORD}
                ).headers["Location"] == CODE_PAGE
    code = pyotp.TOTP(secret).at(time.time() + 30)
    assert post(ape, CODE_PAGE, {"code": code}).status_code == 302
    assert "Réinitialiser la double authentification" not in text(
        ape.get(f"/profils/{w.paul_x}/habilitations"))
    own = f"/profils/{w.paul_x}/double-authentification"
    assert "depuis Mon compte" in text(ape.get(own))
    assert post(ape, ANY_FORM, {}, own).status_code == 403
    assert ape.post(own).status_code == 400  # no CSRF token
    assert has_second_factor(w.app, w.ape)


# --- the level a domain requires ------------------------------------------------------


def domains_requiring(op: Provider, *levels: str | None) -> tuple[list[str], str]:
    """Domains of this test's own, each requiring its level (None: nothing more than the
    password), and a person signed in to nothing yet with a Lecteur role in each."""

    def work() -> tuple[list[str], str]:
        actor, codes = Actor(label="test"), []
        for level in levels:
            code = "ESSAI" + secrets.token_hex(3).upper()
            domain = services.upsert_domain(code, f"Domaine {code}", actor)
            services.upsert_role(domain, "LECTEUR", "Lecteur", actor)
            services.require_acr(domain, level, actor)
            codes.append(code)
        entity = db.session.scalars(select(Entity).where(
            Entity.name == "EHPAD Les Tilleuls")).one()
        owner = directory.account("Hélène", secrets.token_hex(4))
        directory.profile(owner, entity, "Cadre de santé", *[f"{c}/LECTEUR" for c in codes])
        db.session.commit()
        return codes, owner.identifier

    return op.run(work)


def test_a_domain_requiring_eidas2_steps_up_every_application_of_it(
        any_scene: Scene) -> None:
    """The domain asks it, not the client: a session opened with the password is stepped
    up (the code only), and the ID token says eidas2."""
    op = any_scene.op
    [strict], identifier = domains_requiring(op, "eidas2")
    browser = Browser(op)
    browser.sign_in(identifier)
    app, _, _ = enrol(browser)
    rp = register(op, (strict,), name="Application du domaine")  # no level of its own
    asked, claims = through_code_page(browser, rp, None, app.code())
    assert "exige une double authentification" in asked.text
    assert "password" not in {name for form in asked.forms for name in form.fields}
    assert claims["acr"] == "eidas2" and claims["amr"] == ["pwd", "otp"]


def test_the_strongest_of_the_domain_s_and_the_client_s_levels_wins(sqlite: Scene) -> None:
    op = sqlite.op
    (strict, plain), identifier = domains_requiring(op, "eidas2", None)
    browser = Browser(op)
    browser.sign_in(identifier)
    app, _, _ = enrol(browser)
    basic = register(op, (plain,), name="Sans exigence").login(browser).id_claims
    assert basic["acr"] == "eidas1"  # neither the domain nor the client asks more
    lenient = register(op, (plain, strict), name="Deux domaines", required_acr="eidas1")
    _, claims = through_code_page(browser, lenient, None, app.code())
    assert claims["acr"] == "eidas2"  # one of its domains requires it


def test_a_domain_requiring_eidas2_sends_who_has_no_second_factor_to_enrol(
        sqlite: Scene) -> None:
    op = sqlite.op
    [strict], identifier = domains_requiring(op, "eidas2")
    told = Browser(op).authorize(register(op, (strict,)).begin().url, identifier)
    assert isinstance(told, Page) and "Double authentification requise" in told.text


def test_a_domain_s_level_is_set_by_the_catalogue_or_the_command_line(
        make_app: Any, database_url: str, tmp_path: Path) -> None:
    from idp.cli import cli

    app = make_app(database_url)
    runner = app.test_cli_runner()

    def level() -> str | None:
        listed = runner.invoke(cli, ["catalogue", "list", "--json"])
        return next(d for d in json.loads(listed.stdout) if d["code"] == "ESSAI")[
            "required_acr"]

    def load(extra: str) -> Any:
        catalogue = tmp_path / "catalogue.toml"
        catalogue.write_text('[[domains]]\ncode = "ESSAI"\nlabel = "Essai"\n' + extra
                             + 'roles = [{ code = "LECTEUR", label = "Lecteur" }]\n')
        return runner.invoke(cli, ["catalogue", "load", str(catalogue)])

    assert load('required_acr = "eidas2"\n').exit_code == 0
    assert level() == "eidas2"
    assert load("").exit_code == 0 and level() == "eidas2"  # a reload does not lower it
    bad = load('required_acr = "eidas9"\n')
    assert bad.exit_code != 0 and "required_acr must be one of eidas1, eidas2" in bad.output
    assert level() == "eidas2"

    lowered = runner.invoke(cli, ["catalogue", "require-acr", "essai", "eidas1", "--json"])
    assert lowered.exit_code == 0, lowered.output
    assert json.loads(lowered.stdout) == {"domain": "ESSAI", "required_acr": None}
    raised = runner.invoke(cli, ["catalogue", "require-acr", "ESSAI", "eidas2"])
    assert raised.exit_code == 0 and "require eidas2" in raised.output
    refused = runner.invoke(cli, ["catalogue", "require-acr", "ESSAI", "eidas9"])
    assert refused.exit_code != 0 and "eidas9" in refused.output
    unknown = runner.invoke(cli, ["catalogue", "require-acr", "INCONNU", "eidas2"])
    assert unknown.exit_code != 0 and "Domaine inconnu" in unknown.output
    assert level() == "eidas2"
    with app.app_context():
        assert [e.details["required_acr"] for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "catalogue.domain.required_acr")
            .order_by(AuditEvent.id))] == ["eidas2", "eidas1", "eidas2"]
