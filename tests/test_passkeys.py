"""Passkeys (WebAuthn) driven from outside, as a browser would: the provider served on
`http://localhost:<port>` (a secure context with a domain, as WebAuthn wants), the
person's browser and relying applications of tests/support/oidc.py, and an
authenticator written in the tests (tests/support/authenticator.py) that answers the
options the pages ask for, or lies when told to.

On SQLite with the embedded store and on PostgreSQL.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from idp.directory.models import Account
from idp.extensions import db
from idp.mfa import passkeys, service
from idp.mfa.models import Passkey
from tests.support import directory
from tests.support.authenticator import SoftAuthenticator, b64url
from tests.support.clock import store_clock
from tests.support.html import csrf_token
from tests.support.oidc import (
    Arrival,
    Browser,
    Page,
    Provider,
    Scene,
    app_factory,
    audit_events,
    mail_subjects,
    register,
    serving,
)
from tests.test_second_factor import new_person as own_person

ENROL_PAGE = "/compte/double-authentification"
CODE_PAGE = "/connexion/code"
SIGN_IN_PAGE = "/connexion/cle-d-acces"
REFUSED = "n'a pas été reconnue"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def op(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
       sqlite_template: Path) -> Iterator[Provider]:
    root = tmp_path_factory.mktemp("passkeys")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'idp.sqlite3'}"
        (root / "idp.sqlite3").write_bytes(sqlite_template.read_bytes())
        cleanup = None
    else:
        pg_server = request.getfixturevalue("pg_server")
        name = f"passkeys_{secrets.token_hex(6)}"
        pg_server.create_database(name, template=request.getfixturevalue("pg_template"))
        url, cleanup = pg_server.url(name), lambda: pg_server.drop_database(name)
    try:
        with app_factory(root) as make_app, serving(make_app, host="localhost") as serve:
            provider = serve(url)
            provider.run(directory.ancre_world)
            yield provider
    finally:
        if cleanup:
            cleanup()


@dataclass
class Person:
    identifier: str
    browser: Browser
    key: SoftAuthenticator


def new_person(op: Provider, *, synced: bool = False) -> Person:
    """A person of her own (her counters cross no other test) with an ANCRE profile,
    signed in, holding an authenticator for this provider's origin."""
    person = Person(own_person(op), Browser(op), SoftAuthenticator(op.issuer, synced=synced))
    person.browser.sign_in(person.identifier)
    return person


def options(browser: Browser, page: Page, form_index: int) -> dict[str, Any]:
    """What the page's script asks before calling navigator.credentials."""
    form = page.forms[form_index]
    path = re.findall(r'data-options="([^"]+)"', page.html)
    assert path, page.text
    response = browser.http.post(browser.provider.issuer + html.unescape(path[0]),
                                 headers={"X-CSRFToken": form.fields["csrf_token"]},
                                 timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


def add_passkey(person: Person, name: str = "Ordinateur du bureau") -> Page:
    browser = person.browser
    page = browser.open(browser.provider.issuer + ENROL_PAGE)
    assert isinstance(page, Page) and page.status == 200
    index = page.form_to("/cles-d-acces")
    answer = person.key.create(options(browser, page, index))
    done = browser.submit(page, form_index=index, name=name, credential=answer)
    assert isinstance(done, Page) and done.status == 200, done
    return done


def answer_page(browser: Browser, page: Page, key: SoftAuthenticator,
                **lie: Any) -> Page | Arrival:
    """Answer the page's passkey form (the code page, or the sign-in page)."""
    index = page.form_with("credential")
    answer = key.get(options(browser, page, index), **lie)
    return browser.submit(page, form_index=index, credential=answer)


def sign_in_page(browser: Browser, login: Page | None = None) -> Page:
    """« Se connecter avec une clé d'accès », from the login page."""
    login = login or browser.open(browser.provider.issuer + "/connexion")
    assert isinstance(login, Page) and login.kind == "login"
    link = re.search(r'href="(/connexion/cle-d-acces[^"]*)"[^>]*>Se connecter avec une clé',
                     login.html)
    assert link, login.text
    page = browser.open(browser.provider.issuer + html.unescape(link.group(1)))
    assert isinstance(page, Page) and page.status == 200
    return page


def stored(op: Provider, identifier: str) -> list[Passkey]:
    def work() -> list[Passkey]:
        account = db.session.scalars(select(Account).where(
            Account.identifier == identifier)).one()
        rows = list(db.session.scalars(select(Passkey).where(
            Passkey.account_id == account.id)))
        db.session.expunge_all()
        return rows

    return op.run(work)


def signed_in(browser: Browser) -> bool:
    page = browser.get("/compte/")
    return page.status == 200


# --- registration ---------------------------------------------------------------------


def test_a_passkey_is_registered_named_listed_audited_and_mailed(op: Provider) -> None:
    person = new_person(op)
    done = add_passkey(person, "Clé USB bleue")

    assert "La clé d'accès « Clé USB bleue » est ajoutée." in done.text
    assert "Clé USB bleue" in done.visible_text and "jamais" in done.visible_text
    [row] = stored(op, person.identifier)
    assert row.name == "Clé USB bleue" and row.transports == "internal"
    assert row.credential_id == b64url(person.key.credentials[0].id)
    assert row.sign_count == 0 and row.last_used_at is None and not row.synced
    assert any(e["passkey"] == "Clé USB bleue" for e in audit_events(op, "passkey.registered"))
    assert "PLAGE – Clé d'accès ajoutée" in mail_subjects(op, person.identifier)


def test_a_registration_made_for_another_origin_or_twice_is_not_kept(op: Provider) -> None:
    person = new_person(op)
    browser = person.browser
    page = browser.open(op.issuer + ENROL_PAGE)
    assert isinstance(page, Page)
    index = page.form_to("/cles-d-acces")
    forged = person.key.create(options(browser, page, index), origin="http://evil.localhost")
    refused = browser.submit(page, form_index=index, name="Volée", credential=forged)
    assert isinstance(refused, Page) and refused.status == 400
    assert "n'a pas pu être enregistrée" in refused.text
    # The challenge is spent: the same answer again finds none.
    again = browser.submit(page, form_index=index, name="Volée", credential=forged)
    assert isinstance(again, Page) and again.status == 400
    assert stored(op, person.identifier) == []


def test_a_registration_without_a_name_says_so_beside_the_field(op: Provider) -> None:
    person = new_person(op)
    page = person.browser.open(op.issuer + ENROL_PAGE)
    assert isinstance(page, Page)
    refused = person.browser.submit(page, form_index=page.form_to("/cles-d-acces"),
                                    name=" ", credential="")
    assert isinstance(refused, Page) and refused.status == 400
    assert 'id="name-error"' in refused.html and "Veuillez nommer" in refused.text


# --- the second factor ----------------------------------------------------------------


def test_after_the_password_a_passkey_gives_eidas2_and_pwd_hwk(op: Provider) -> None:
    person = new_person(op)
    add_passkey(person)
    rp = register(op)
    browser = Browser(op)
    request = rp.begin()
    asked = browser.authorize(request.url, person.identifier)
    assert isinstance(asked, Page) and asked.url.endswith(CODE_PAGE), asked
    assert "Utiliser une clé d'accès" in asked.text
    assert 'name="code"' not in asked.html  # no TOTP app: the passkey only

    arrival = answer_page(browser, asked, person.key)

    claims = rp.exchange(request, rp.code_from(request, arrival)).id_claims
    assert claims["acr"] == "eidas2" and claims["amr"] == ["pwd", "hwk"]
    [row] = stored(op, person.identifier)
    assert row.sign_count == 1 and row.last_used_at is not None


def test_told_to_enrol_by_an_application_a_person_adds_a_passkey_and_goes_on(
        op: Provider) -> None:
    person = new_person(op)
    strict = register(op, name="SAGA Directeurs", required_acr="eidas2")
    request = strict.begin()
    told = person.browser.authorize(request.url)
    assert isinstance(told, Page) and "Double authentification requise" in told.text
    link = re.search(r'href="([^"]*double-authentification[^"]*)"', told.html)
    assert link
    page = person.browser.open(op.issuer + html.unescape(link.group(1)))
    assert isinstance(page, Page)
    index = page.form_to("/cles-d-acces")
    answer = person.key.create(options(person.browser, page, index))

    asked = person.browser.submit(page, form_index=index, name="Téléphone", credential=answer)

    assert isinstance(asked, Page) and asked.url.endswith(CODE_PAGE), asked
    assert "« Téléphone » est ajoutée" in asked.text
    arrival = answer_page(person.browser, asked, person.key)
    claims = strict.exchange(request, strict.code_from(request, arrival)).id_claims
    assert claims["acr"] == "eidas2" and claims["amr"] == ["pwd", "hwk"]


def test_another_persons_passkey_is_no_second_factor(op: Provider) -> None:
    person, other = new_person(op), new_person(op)
    add_passkey(person)
    add_passkey(other)
    browser = Browser(op)
    page = browser.open(op.issuer + "/connexion")
    assert isinstance(page, Page)
    asked = browser.login(page, person.identifier)
    assert isinstance(asked, Page) and asked.url.endswith(CODE_PAGE)
    index = asked.form_with("credential")
    choices = options(browser, asked, index)
    assert [c["id"] for c in choices["allowCredentials"]] == [
        b64url(person.key.credentials[0].id)]
    answer = json.loads(other.key.get(choices, credential=other.key.credentials[0]))
    del answer["response"]["userHandle"]  # as a security key's non-discoverable one sends
    refused = browser.submit(asked, form_index=index, credential=json.dumps(answer))
    assert isinstance(refused, Page) and refused.status == 401 and REFUSED in refused.text
    assert not signed_in(browser)


def test_passkey_answers_count_in_the_second_factors_throttle(op: Provider) -> None:
    person = new_person(op)
    add_passkey(person)
    browser = Browser(op)
    page = browser.open(op.issuer + "/connexion")
    assert isinstance(page, Page)
    asked = browser.login(page, person.identifier)
    assert isinstance(asked, Page)
    limit = op.app.config["IDP"]["security"]["login_max_failures"]
    for _ in range(limit):
        refused = answer_page(browser, asked, person.key, origin="http://evil.localhost")
        assert isinstance(refused, Page) and refused.status == 401
    locked = answer_page(browser, asked, person.key)
    assert isinstance(locked, Page) and locked.status == 429
    assert "Trop de codes incorrects" in locked.text
    assert not signed_in(browser)


# --- sign-in without password ---------------------------------------------------------


@pytest.mark.parametrize(("synced", "key_amr"), [(False, "hwk"), (True, "swk")])
def test_a_passkey_alone_signs_in_to_an_application_at_eidas2(
        op: Provider, synced: bool, key_amr: str) -> None:
    person = new_person(op, synced=synced)
    add_passkey(person)
    rp = register(op)
    browser = Browser(op)
    request = rp.begin()
    login = browser.authorize(request.url)
    assert isinstance(login, Page) and login.kind == "login"

    page = sign_in_page(browser, login)
    choices = options(browser, page, page.form_with("credential"))
    assert choices["userVerification"] == "required" and not choices.get("allowCredentials")
    arrival = answer_page(browser, page, person.key)

    claims = rp.exchange(request, rp.code_from(request, arrival)).id_claims
    assert claims["sub"] == person.identifier
    assert claims["acr"] == "eidas2" and claims["amr"] == [key_amr, "user"]
    assert any(e.get("method") == "passkey" for e in audit_events(op, "login.success"))


# --- refusals -------------------------------------------------------------------------


def test_an_answer_to_another_challenge_or_from_another_session_is_refused(
        op: Provider) -> None:
    person = new_person(op)
    add_passkey(person)
    browser = Browser(op)
    page = sign_in_page(browser)
    index = page.form_with("credential")
    issued = options(browser, page, index)
    forged = browser.submit(page, form_index=index, credential=person.key.get(
        issued, challenge=b64url(secrets.token_bytes(32))))
    assert isinstance(forged, Page) and forged.status == 401 and REFUSED in forged.text
    # The challenge issued went with that attempt: the right answer to it comes too late.
    late = browser.submit(page, form_index=index, credential=person.key.get(issued))
    assert isinstance(late, Page) and late.status == 401

    # Options taken by this browser, the answer posted by another one.
    thief = Browser(op)
    stolen_page = sign_in_page(thief)
    answer = person.key.get(options(browser, page, page.form_with("credential")))
    elsewhere = thief.submit(stolen_page, form_index=stolen_page.form_with("credential"),
                             credential=answer)
    assert isinstance(elsewhere, Page) and elsewhere.status == 401
    assert not signed_in(browser) and not signed_in(thief)


def test_a_replayed_assertion_is_refused(op: Provider) -> None:
    person = new_person(op)
    add_passkey(person)
    browser = Browser(op)
    page = sign_in_page(browser)
    answer = person.key.get(options(browser, page, page.form_with("credential")))
    first = browser.submit(page, form_index=page.form_with("credential"), credential=answer)
    assert isinstance(first, Page) and first.status == 200 and signed_in(browser)

    replayer = Browser(op)
    page = sign_in_page(replayer)
    options(replayer, page, page.form_with("credential"))  # a live challenge, not this one
    replayed = replayer.submit(page, form_index=page.form_with("credential"),
                               credential=answer)
    assert isinstance(replayed, Page) and replayed.status == 401
    assert not signed_in(replayer)


def test_a_signature_counter_that_goes_back_is_refused(op: Provider) -> None:
    person = new_person(op)
    add_passkey(person)
    for _ in range(2):
        browser = Browser(op)
        assert isinstance(answer_page(browser, sign_in_page(browser), person.key), Page)
    assert stored(op, person.identifier)[0].sign_count == 2

    cloned = Browser(op)
    refused = answer_page(cloned, sign_in_page(cloned), person.key, sign_count=1)
    assert isinstance(refused, Page) and refused.status == 401
    assert not signed_in(cloned) and stored(op, person.identifier)[0].sign_count == 2


def test_an_answer_from_another_origin_is_refused(op: Provider) -> None:
    person = new_person(op)
    add_passkey(person)
    browser = Browser(op)
    refused = answer_page(browser, sign_in_page(browser), person.key,
                          origin=op.issuer.replace("localhost", "evil.localhost"))
    assert isinstance(refused, Page) and refused.status == 401
    assert not signed_in(browser)


def test_an_unknown_credential_or_a_garbled_answer_is_refused(op: Provider) -> None:
    stranger = SoftAuthenticator(op.issuer)
    stranger.create({"rp": {"id": "localhost"}, "user": {"id": b64url(b"x")},
                     "challenge": b64url(b"c")})
    browser = Browser(op)
    page = sign_in_page(browser)
    refused = answer_page(browser, page, stranger)
    assert isinstance(refused, Page) and refused.status == 401 and REFUSED in refused.text
    assert audit_events(op, "login.failure")[-1]["reason"] == "unknown_credential"
    for garbage in ("{", "[]", json.dumps({"id": "AA", "response": {}}), "x" * 20_000):
        options(browser, page, page.form_with("credential"))
        answered = browser.submit(page, form_index=page.form_with("credential"),
                                  credential=garbage)
        assert isinstance(answered, Page) and answered.status in (400, 401), garbage


def test_an_expired_challenge_is_refused(op: Provider) -> None:
    person = new_person(op)
    add_passkey(person)
    browser = Browser(op)
    page = sign_in_page(browser)
    answer = person.key.get(options(browser, page, page.form_with("credential")))
    store = op.app.extensions["idp.store"]
    try:
        store_clock(op.app).advance(passkeys.TIMEOUT + 1)
        late = browser.submit(page, form_index=page.form_with("credential"),
                              credential=answer)
    finally:
        op.app.extensions["idp.store"] = store
    assert isinstance(late, Page) and late.status == 401
    assert not signed_in(browser)


# --- removal --------------------------------------------------------------------------


def test_removing_a_passkey_asks_the_password_and_then_the_password_alone_signs_in(
        op: Provider) -> None:
    person = new_person(op)
    add_passkey(person, "Téléphone")
    [row] = stored(op, person.identifier)
    page = person.browser.open(op.issuer + ENROL_PAGE)
    assert isinstance(page, Page)
    index = page.form_to("/cles-d-acces/supprimer")
    wrong = person.browser.submit(page, form_index=index, passkey=str(row.id),
                                  proof="pas le bon")
    assert isinstance(wrong, Page) and wrong.status == 401
    assert len(stored(op, person.identifier)) == 1

    done = person.browser.submit(page, form_index=index, passkey=str(row.id),
                                 proof=directory.PASSWORD)
    assert isinstance(done, Page) and "« Téléphone » est supprimée" in done.text
    assert stored(op, person.identifier) == []
    assert "PLAGE – Clé d'accès supprimée" in mail_subjects(op, person.identifier)
    assert any(e["passkey"] == "Téléphone" for e in audit_events(op, "passkey.removed"))
    claims = register(op).login(Browser(op), person.identifier).id_claims
    assert claims["acr"] == "eidas1" and claims["amr"] == ["pwd"]


def test_an_administrators_reset_removes_the_passkeys_too(op: Provider) -> None:
    person = new_person(op)
    add_passkey(person)

    def reset() -> bool:
        account = db.session.scalars(select(Account).where(
            Account.identifier == person.identifier)).one()
        from idp.core.audit import Actor

        removed = service.remove(account, Actor.cli(), by_administrator=True)
        db.session.commit()
        return removed and not service.has_second_factor(account)

    assert op.run(reset)
    assert stored(op, person.identifier) == []


def test_an_administrator_resets_passkeys_alone_from_the_profile_s_page(op: Provider) -> None:
    """Someone with passkeys and no TOTP app has a second factor all the same: the APE
    of her entity sees them on the confirmation page and his reset removes them."""
    person = new_person(op, synced=True)
    add_passkey(person, "Téléphone")

    def ape_and_profile() -> tuple[str, int]:
        account = db.session.scalars(select(Account).where(
            Account.identifier == person.identifier)).one()
        ape = db.session.scalars(select(Account).where(
            Account.given_name == "Paul", Account.family_name == "Durand")).one()
        return ape.identifier, account.profiles[0].id

    ape_identifier, profile_id = op.run(ape_and_profile)
    ape = Browser(op)
    ape.sign_in(ape_identifier)
    confirm = ape.get(f"/profils/{profile_id}/double-authentification")
    assert confirm.status == 200 and "Téléphone" in confirm.text
    done = ape.post(f"/profils/{profile_id}/double-authentification",
                    {"csrf_token": csrf_token(confirm.html)})
    assert done.status == 302
    assert stored(op, person.identifier) == []


# --- where passkeys are offered -------------------------------------------------------


@pytest.mark.parametrize(("issuer", "expected"), [
    ("https://plage.example.fr", ("plage.example.fr", "https://plage.example.fr")),
    ("https://plage.example.fr:8443/idp", ("plage.example.fr", "https://plage.example.fr:8443")),
    ("http://localhost:5000", ("localhost", "http://localhost:5000")),
    ("http://plage.example.fr", None),  # no secure context: browsers offer no WebAuthn
    ("http://127.0.0.1:5000", None),  # an address is no RP ID
    ("https://10.0.0.1", None),
])
def test_the_relying_party_is_the_issuer_where_browsers_allow_it(
        issuer: str, expected: tuple[str, str] | None) -> None:
    rp = passkeys.relying_party(issuer)
    assert ((rp.id, rp.origin) if rp else None) == expected


def test_no_passkeys_where_browsers_offer_no_webauthn(sqlite: Scene) -> None:
    """On http://127.0.0.1 (no domain for an RP ID) nothing offers or takes a passkey."""
    browser = Browser(sqlite.op)
    login = browser.open(sqlite.op.issuer + "/connexion")
    assert isinstance(login, Page) and "clé d'accès" not in login.text
    token = login.forms[login.form_with("password")].fields["csrf_token"]
    answer = browser.http.post(sqlite.op.issuer + "/connexion/cle-d-acces/options",
                               headers={"X-CSRFToken": token}, timeout=10)
    assert answer.status_code == 404 and "pas disponibles" in answer.json()["error"]
    assert browser.get(SIGN_IN_PAGE).status == 404
