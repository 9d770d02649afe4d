"""The second factor and the assurance levels, driven from outside as a person and a
relying application would: a TOTP app simulated by pyotp, the code flow by the
independent client of tests/support/oidc.py.

A code is accepted once, in its 30-second step or the steps either side; the tests type
the code of the current step, then the next step's (`Authenticator`), never an earlier
one, so that they pass whatever the moment they run.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from idp.core.audit import AuditEvent
from idp.directory.models import Account, Entity
from idp.extensions import db
from idp.mfa.models import RecoveryCode, SecondFactor
from tests.support import directory
from tests.support.oidc import (
    Arrival,
    Browser,
    Page,
    Provider,
    RelyingParty,
    Scene,
    app_factory,
    mail_subjects,
    register,
    serving,
)

SECRET = re.compile(r'<code id="secret">([A-Z2-7 ]+)</code>')
RECOVERY = re.compile(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>")
CODE_PAGE = "/connexion/code"
ENROL_PAGE = "/compte/double-authentification"


@dataclass
class Authenticator:
    """The person's TOTP app: at most two codes per 30 seconds, each of a later step."""

    secret: str
    typed: int = 0

    def code(self) -> str:
        assert self.typed < 2, "a third code would need the next step (wait 30 s)"
        self.typed += 1
        return pyotp.TOTP(self.secret).at(time.time() + 30 * (self.typed - 1))


def new_person(op: Provider) -> str:
    """A person of her own (her codes and counters cross no other test), with an ANCRE
    profile on the EHPAD Les Tilleuls."""

    def work() -> str:
        entity = db.session.scalars(select(Entity).where(
            Entity.name == "EHPAD Les Tilleuls")).one()
        family = "".join(secrets.choice("abcdefghij") for _ in range(8)).capitalize()
        owner = directory.account("Hélène", family)
        directory.profile(owner, entity, "Cadre de santé", "ANCRE/LECTEUR")
        db.session.commit()
        return owner.identifier

    return op.run(work)


def enrol(browser: Browser) -> tuple[Authenticator, list[str], Page]:
    """Enrol from Mon compte (signed in): scan the key, type the first code."""
    page = browser.open(browser.provider.issuer + ENROL_PAGE)
    assert isinstance(page, Page) and page.status == 200, page
    assert "<svg" in page.html  # the QR code, drawn by the server
    found = SECRET.search(page.html)
    assert found, page.text
    app = Authenticator(found.group(1).replace(" ", ""))
    shown = browser.submit(page, form_index=page.form_with("code"), code=app.code())
    assert isinstance(shown, Page) and shown.status == 200, shown
    return app, RECOVERY.findall(shown.html), shown


def enrolled_person(op: Provider) -> tuple[str, Authenticator, list[str]]:
    identifier = new_person(op)
    browser = Browser(op)
    browser.sign_in(identifier)
    app, codes, _ = enrol(browser)
    return identifier, app, codes


def password_then_code(browser: Browser, identifier: str, code: str,
                       **fields: str) -> Page | Arrival:
    """Sign in at the provider's own login page; the code page comes next."""
    page = browser.open(browser.provider.issuer + "/connexion")
    assert isinstance(page, Page)
    asked = browser.login(page, identifier)
    assert isinstance(asked, Page) and asked.url.endswith(CODE_PAGE), asked
    return browser.submit(asked, form_index=asked.form_with("code"), code=code, **fields)


def through_code_page(browser: Browser, rp: RelyingParty, identifier: str | None,
                      code: str, **params: str) -> tuple[Page, dict[str, object]]:
    """An authorization request that stops at the code page; the code, the tokens."""
    request = rp.begin(**params)
    asked = browser.authorize(request.url, identifier)
    assert isinstance(asked, Page) and asked.url.endswith(CODE_PAGE), asked
    arrival = browser.submit(asked, form_index=asked.form_with("code"), code=code)
    return asked, rp.exchange(request, rp.code_from(request, arrival)).id_claims


def audit(op: Provider, identifier: str) -> list[str]:
    return op.run(lambda: list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.target_id == identifier).order_by(AuditEvent.id))))


# --- enrolment ------------------------------------------------------------------------


def test_enrolment_shows_ten_recovery_codes_once_and_keeps_them_hashed(sqlite: Scene) -> None:
    op = sqlite.op
    identifier = new_person(op)
    browser = Browser(op)
    browser.sign_in(identifier)
    home = browser.open(op.issuer + "/compte/")
    assert isinstance(home, Page) and ENROL_PAGE in home.html

    app, codes, shown = enrol(browser)

    assert len(set(codes)) == 10
    assert "ils ne seront plus affichés" in shown.text
    again = browser.open(op.issuer + ENROL_PAGE)
    assert isinstance(again, Page) and "activée" in again.text
    assert not RECOVERY.findall(again.html) and "10</strong> sur 10" in again.html

    def stored() -> tuple[str, list[str]]:
        account = db.session.scalars(select(Account).where(
            Account.identifier == identifier)).one()
        factor = db.session.get(SecondFactor, account.id)
        assert factor is not None and factor.confirmed_at is not None
        digests = db.session.scalars(select(RecoveryCode.digest).where(
            RecoveryCode.account_id == account.id))
        return factor.secret_sealed, list(digests)

    sealed, digests = op.run(stored)
    assert app.secret not in sealed and sealed.startswith("pbkdf2-sha256-aes256gcm$")
    assert len(digests) == 10 and not set(codes) & set(digests)
    assert "second_factor.enrolled" in audit(op, identifier)
    assert "PLAGE – Double authentification activée" in mail_subjects(op, identifier)


def test_a_wrong_first_code_does_not_enrol_and_keeps_the_same_key(sqlite: Scene) -> None:
    browser = Browser(sqlite.op)
    browser.sign_in(new_person(sqlite.op))
    page = browser.open(sqlite.op.issuer + ENROL_PAGE)
    assert isinstance(page, Page)
    refused = browser.submit(page, form_index=page.form_with("code"), code="000000")
    assert isinstance(refused, Page) and refused.status == 400
    assert "Code de vérification incorrect." in refused.text
    assert SECRET.search(refused.html).group(1) == SECRET.search(page.html).group(1)


# --- login ----------------------------------------------------------------------------


def test_the_id_token_says_eidas2_and_pwd_otp_after_the_code(any_scene: Scene) -> None:
    op = any_scene.op
    identifier, app, _ = enrolled_person(op)
    rp = register(op)
    asked, claims = through_code_page(Browser(op), rp, identifier, app.code())
    assert "Code de vérification" in asked.text
    assert claims["acr"] == "eidas2" and claims["amr"] == ["pwd", "otp"]
    assert audit(op, identifier)[-1] == "login.success"


def test_without_a_second_factor_the_id_token_says_eidas1_and_pwd(sqlite: Scene) -> None:
    op = sqlite.op
    claims = register(op).login(Browser(op), new_person(op)).id_claims
    assert claims["acr"] == "eidas1" and claims["amr"] == ["pwd"]


def test_discovery_publishes_the_ladder(sqlite: Scene) -> None:
    assert sqlite.op.metadata["acr_values_supported"] == ["eidas1", "eidas2"]


def test_a_code_is_accepted_once(sqlite: Scene) -> None:
    op = sqlite.op
    identifier, app, _ = enrolled_person(op)
    code = app.code()
    signed = password_then_code(Browser(op), identifier, code)
    assert isinstance(signed, Page) and signed.url.endswith("/compte/"), signed
    replayed = password_then_code(Browser(op), identifier, code)
    assert isinstance(replayed, Page) and replayed.status == 401
    assert "Code de vérification incorrect." in replayed.text


def test_a_recovery_code_signs_in_once(sqlite: Scene) -> None:
    op = sqlite.op
    identifier, _, codes = enrolled_person(op)
    signed = password_then_code(Browser(op), identifier, codes[3].upper())
    assert isinstance(signed, Page) and signed.url.endswith("/compte/"), signed
    again = password_then_code(Browser(op), identifier, codes[3])
    assert isinstance(again, Page) and again.status == 401
    assert "second_factor.recovery_code_used" in audit(op, identifier)
    assert "PLAGE – Un code de secours a été utilisé" in mail_subjects(op, identifier)
    browser = Browser(op)
    assert isinstance(password_then_code(browser, identifier, codes[4]), Page)
    manage = browser.open(op.issuer + ENROL_PAGE)
    assert isinstance(manage, Page) and "8</strong> sur 10" in manage.html


def test_wrong_codes_lock_like_wrong_passwords_and_warn_the_holder(sqlite: Scene) -> None:
    op = sqlite.op
    identifier, app, _ = enrolled_person(op)
    browser = Browser(op)
    for _ in range(5):
        wrong = password_then_code(browser, identifier, "000000")
        assert isinstance(wrong, Page) and wrong.status == 401
    locked = password_then_code(browser, identifier, app.code())  # the right one, too late
    assert isinstance(locked, Page) and locked.status == 429
    assert "Trop de codes incorrects" in locked.text
    assert "PLAGE – Codes de vérification incorrects sur votre compte" in mail_subjects(
        op, identifier)
    # The password's own count is another: it still opens the code page.
    page = browser.open(op.issuer + "/connexion")
    assert isinstance(page, Page)
    assert browser.login(page, identifier).url.endswith(CODE_PAGE)


# --- step-up --------------------------------------------------------------------------


def test_a_client_requiring_eidas2_steps_a_password_session_up(sqlite: Scene) -> None:
    """Signed in with the password only (before enrolling), the person reaches an
    application that requires eidas2: only the code is asked, and the token says so."""
    op = sqlite.op
    identifier = new_person(op)
    browser = Browser(op)
    basic = register(op).login(browser, identifier).id_claims
    assert basic["acr"] == "eidas1"
    app, _, _ = enrol(browser)
    strict = register(op, name="SAGA Directeurs", required_acr="eidas2")
    asked, claims = through_code_page(browser, strict, None, app.code())
    assert "exige une double authentification" in asked.text
    assert "password" not in {name for form in asked.forms for name in form.fields}
    assert claims["acr"] == "eidas2" and claims["amr"] == ["pwd", "otp"]
    assert claims["auth_time"] >= basic["auth_time"]


def test_an_essential_acr_steps_up_too(sqlite: Scene) -> None:
    op = sqlite.op
    identifier = new_person(op)
    browser = Browser(op)
    rp = register(op)
    rp.login(browser, identifier)
    app, _, _ = enrol(browser)
    _, claims = through_code_page(
        browser, rp, None, app.code(),
        claims='{"id_token": {"acr": {"essential": true, "values": ["eidas2"]}}}')
    assert claims["acr"] == "eidas2"


def test_acr_values_steps_up_only_who_has_a_second_factor(sqlite: Scene) -> None:
    """acr_values is a wish (OIDC Core 3.1.2.1): granted when the person can, else the
    login goes on at eidas1."""
    op = sqlite.op
    rp = register(op)
    plain = rp.login(Browser(op), new_person(op), acr_values="eidas2").id_claims
    assert plain["acr"] == "eidas1"

    browser = Browser(op)
    rp.login(browser, new_person(op))
    app, _, _ = enrol(browser)
    _, claims = through_code_page(browser, rp, None, app.code(), acr_values="eidas2")
    assert claims["acr"] == "eidas2"


def test_without_a_second_factor_the_person_is_told_to_enrol_then_gets_in(
        sqlite: Scene) -> None:
    op = sqlite.op
    identifier = new_person(op)
    browser = Browser(op)
    strict = register(op, name="SAGA Directeurs", required_acr="eidas2")
    request = strict.begin()
    told = browser.authorize(request.url, identifier)
    assert isinstance(told, Page) and told.status == 200, told
    assert "Double authentification requise" in told.text
    link = re.search(r'href="([^"]*double-authentification[^"]*)"', told.html)
    assert link and "next=" in link.group(1)
    page = browser.open(op.issuer + link.group(1).replace("&amp;", "&"))
    assert isinstance(page, Page)
    app = Authenticator(SECRET.search(page.html).group(1).replace(" ", ""))
    shown = browser.submit(page, form_index=page.form_with("code"), code=app.code())
    assert isinstance(shown, Page) and "Continuer vers l'application" in shown.text
    resume = re.search(r'href="([^"]*/authorize/resume/[^"]*)"', shown.html)
    assert resume
    asked = browser.open(op.issuer + resume.group(1))
    assert isinstance(asked, Page) and asked.url.endswith(CODE_PAGE)
    arrival = browser.submit(asked, form_index=asked.form_with("code"), code=app.code())
    claims = strict.exchange(request, strict.code_from(request, arrival)).id_claims
    assert claims["acr"] == "eidas2"


# --- remembered device, disabling -----------------------------------------------------


def test_a_remembered_device_spares_the_code_at_the_basic_level_only(sqlite: Scene) -> None:
    op = sqlite.op
    identifier, app, codes = enrolled_person(op)
    first = Browser(op)
    signed = password_then_code(first, identifier, app.code(), remember="y")
    assert isinstance(signed, Page) and signed.status == 200
    cookie = next(c for c in first.http.cookies if c.name == "plage_appareil")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.expires

    later = Browser(op)  # signed out: a new session, the device cookie kept
    later.http.cookies.set_cookie(cookie)
    claims = register(op).login(later, identifier).id_claims
    assert claims["acr"] == "eidas1" and claims["amr"] == ["pwd"]
    strict = register(op, name="SAGA Directeurs", required_acr="eidas2")
    _, stepped = through_code_page(later, strict, None, codes[0])
    assert stepped["acr"] == "eidas2"

    stranger = Browser(op)  # the cookie names this person only
    stranger.http.cookies.set_cookie(cookie)
    page = stranger.open(op.issuer + "/connexion")
    assert isinstance(page, Page)
    assert stranger.login(page, sqlite.people.spare).url.endswith("/compte/")


def test_disabling_asks_the_password_then_mails_the_holder(sqlite: Scene) -> None:
    op = sqlite.op
    identifier, app, _ = enrolled_person(op)
    browser = Browser(op)
    password_then_code(browser, identifier, app.code())
    page = browser.open(op.issuer + ENROL_PAGE)
    assert isinstance(page, Page)
    wrong = browser.submit(page, form_index=page.form_with("proof"), proof="pas le bon")
    assert isinstance(wrong, Page) and wrong.status == 401
    done = browser.submit(page, form_index=page.form_with("proof"),
                          proof=directory.PASSWORD)
    assert isinstance(done, Page) and "La double authentification est désactivée." in done.text
    assert "second_factor.disabled" in audit(op, identifier)
    assert "PLAGE – Double authentification désactivée" in mail_subjects(op, identifier)
    Browser(op).sign_in(identifier)  # the password alone, again


@pytest.mark.parametrize("typed", ["", "12345", "x" * 65])
def test_a_malformed_code_is_refused_plainly(sqlite: Scene, typed: str) -> None:
    identifier, _, _ = enrolled_person(sqlite.op)
    answer = password_then_code(Browser(sqlite.op), identifier, typed)
    assert isinstance(answer, Page) and answer.status in (400, 401)


# --- the command line -----------------------------------------------------------------


def test_an_operator_resets_a_lost_second_factor(sqlite: Scene) -> None:
    from idp.cli import cli

    op = sqlite.op
    identifier, _, _ = enrolled_person(op)
    runner = op.app.test_cli_runner()
    result = runner.invoke(cli, ["accounts", "reset-second-factor", identifier, "--json"])
    assert result.exit_code == 0, result.output
    assert '"reset": true' in result.output
    assert "second_factor.reset" in audit(op, identifier)
    assert "PLAGE – Double authentification désactivée" in mail_subjects(op, identifier)
    Browser(op).sign_in(identifier)  # the password alone
    again = runner.invoke(cli, ["accounts", "reset-second-factor", identifier])
    assert again.exit_code == 0 and "nothing to reset" in again.output


def test_an_application_is_registered_requiring_eidas2(sqlite: Scene) -> None:
    from idp.cli import cli

    runner = sqlite.op.app.test_cli_runner()
    created = runner.invoke(cli, [
        "clients", "create", "--name", "SAGA Directeurs", "--domain", "SAGA",
        "--redirect-uri", "https://saga.example.fr/callback", "--require-acr", "eidas2",
        "--json"])
    assert created.exit_code == 0, created.output
    client = json.loads(created.stdout)
    assert client["required_acr"] == "eidas2"
    refused = runner.invoke(cli, ["clients", "update", client["client_id"],
                                  "--require-acr", "eidas9"])
    assert refused.exit_code != 0 and "eidas9" in refused.output
    cleared = runner.invoke(cli, ["clients", "update", client["client_id"],
                                  "--clear", "require-acr", "--json"])
    assert json.loads(cleared.stdout)["required_acr"] is None


def test_the_demo_person_with_a_second_factor_reaches_an_eidas2_application(
        tmp_path: Path, sqlite_url: str) -> None:
    """`idp demo` enrols Marc Dubois with a published key; an application registered with
    --require-acr eidas2 gets an ID token that says eidas2 after his code."""
    from idp.cli import cli
    from idp.cli.demo import DEMO_SECOND_FACTOR
    from idp.directory.demo import demo_data

    identifier, secret = DEMO_SECOND_FACTOR
    password = next(p["password"] for p in demo_data()["people"]
                    if p["identifier"] == identifier)
    with app_factory(tmp_path) as make_app, serving(make_app) as serve:
        op = serve(sqlite_url)
        runner = op.app.test_cli_runner()
        for command in (["init"], ["demo"], ["demo"]):  # again: nothing changes
            assert runner.invoke(cli, command).exit_code == 0
        redirect_uri = "https://tdb.apps.test/callback"
        created = runner.invoke(cli, [
            "clients", "create", "--name", "Tableau de bord ESMS", "--domain", "TDBESMS",
            "--redirect-uri", redirect_uri, "--first-party", "--require-acr", "eidas2",
            "--json"])
        client = json.loads(created.stdout)
        rp = RelyingParty(op, client["client_id"], client["client_secret"], redirect_uri)
        request = rp.begin()
        browser = Browser(op)
        asked = browser.authorize(request.url, identifier, password=password)
        assert isinstance(asked, Page) and asked.url.endswith(CODE_PAGE), asked
        arrival = browser.submit(asked, form_index=asked.form_with("code"),
                                 code=pyotp.TOTP(secret).now())
        claims = rp.exchange(request, rp.code_from(request, arrival)).id_claims
        assert claims["sub"] == identifier
        assert claims["acr"] == "eidas2" and claims["amr"] == ["pwd", "otp"]
