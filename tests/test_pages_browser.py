"""The login pages in headless Chromium, driven as a person would (issue 3, "Login pages").

The provider and a tiny relying application are served over real HTTP; Chromium starts
at the client's /authorize URL, signs in, chooses a profile, consents or gives up, and
lands on the relying application with a code or an error. Each step leaves a screenshot
in test-artifacts/screenshots/. The codes obtained are exchanged at /token and the ID
token checked against /jwks, so that "choose the second profile" is proven to reach the
client. Every page seen also goes through a few accessibility checks (`accessible`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import jwt
import pytest
import requests
from flask import Flask, request
from markupsafe import escape
from playwright.sync_api import Page, expect

from idp.directory import services
from idp.directory.models import Habilitation, Profile
from idp.extensions import db
from tests.support import directory as d

pytestmark = pytest.mark.browser

SCOPE = "openid profile habilitations"
SMALL_SCREEN = {"width": 360, "height": 740}
BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."
CHOOSE = "Choisissez le profil avec lequel vous souhaitez vous connecter"
NO_VALID_RIGHT = ("Vous n'avez aucun droit valide défini au niveau de votre compte "
                  "utilisateur. Merci de vous rapprocher de votre administrateur.")


# --- the provider, a relying application, and what the browser does between them -------


def relying_app() -> Flask:
    """An application that only shows what the provider sent back to it."""
    app = Flask("relying_app")

    @app.route("/callback", methods=["GET", "POST"])  # POST: response_mode=form_post
    def callback() -> str:
        rows = "".join(f"<tr><th>{escape(k)}</th><td data-param='{escape(k)}'>{escape(v)}</td></tr>"
                       for k, v in request.values.items(multi=True))
        return ("<!doctype html><html lang='fr'><head><title>Application de test</title></head>"
                f"<body><h1>Retour à l'application</h1><table>{rows}</table></body></html>")

    return app


@dataclass
class Registered:
    client_id: str
    secret: str
    redirect_uri: str


@dataclass
class World:
    app: Flask
    base: str
    rp: str
    person: str  # identifiers
    ape: str
    profile_x: int
    profile_y: int
    finess_x: str
    finess_y: str

    def run(self, work: Callable[[], Any]) -> Any:
        """Build or read data in an app context that is left before the browser goes on."""
        with self.app.app_context():
            return work()

    def client(self, name: str, domains: list[str], *, first_party: bool = True) -> Registered:
        redirect_uri = f"{self.rp}/callback"

        def build() -> Registered:
            row, secret = d.client(name, domains, [redirect_uri], first_party=first_party)
            db.session.commit()
            assert secret is not None
            return Registered(row.client_id, secret, redirect_uri)

        return self.run(build)


@pytest.fixture
def world(make_app: Callable[..., Flask], sqlite_url: str,
          live_server: Callable[[Flask], str]) -> Iterator[World]:
    app = make_app(sqlite_url)
    with app.app_context():
        w = d.ancre_world()
        facts = dict(person=w.person.identifier, ape=w.ape.identifier,
                     profile_x=w.profile_x.id, profile_y=w.profile_y.id,
                     finess_x=w.etab_x.finess, finess_y=w.etab_y.finess)
    base = live_server(app)
    app.config["IDP"]["server"]["issuer"] = base
    yield World(app=app, base=base, rp=live_server(relying_app()), **facts)


@dataclass
class Authorization:
    """One authorization request of the relying application (PKCE S256, state)."""

    url: str
    client: Registered
    state: str
    verifier: str


def authorization(world: World, client: Registered, **extra: str) -> Authorization:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state = secrets.token_urlsafe(12)
    query = urlencode({
        "client_id": client.client_id, "response_type": "code", "scope": SCOPE,
        "redirect_uri": client.redirect_uri, "state": state,
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
        **extra,
    })
    return Authorization(f"{world.base}/authorize?{query}", client, state, verifier)


def landed(page: Page, auth: Authorization) -> dict[str, str]:
    """The browser is on the relying application: the parameters it received."""
    page.wait_for_url(f"{auth.client.redirect_uri}?**")
    expect(page.get_by_role("heading", name="Retour à l'application")).to_be_visible()
    params = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert params["state"] == auth.state
    return params


def id_token_claims(world: World, auth: Authorization, code: str) -> dict[str, Any]:
    """Exchange the code as the relying application would and check the ID token.

    The credentials are form-urlencoded before Basic encoding (RFC 6749, 2.3.1): the
    test builder's client_ids keep the accents of the client's name."""
    response = requests.post(f"{world.base}/token", timeout=10, data={
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": auth.client.redirect_uri, "code_verifier": auth.verifier,
    }, auth=(quote(auth.client.client_id, safe=""), quote(auth.client.secret, safe="")))
    assert response.status_code == 200, response.text
    token = response.json()["id_token"]
    key = jwt.PyJWKClient(f"{world.base}/jwks").get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256", "ES256"],
                      audience=auth.client.client_id, issuer=world.base)


def sign_in(page: Page, identifier: str, password: str = d.PASSWORD) -> None:
    page.get_by_label("Identifiant Plage").fill(identifier)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def accessible(page: Page) -> None:
    """What can be checked without an audit tool: language, headings, labels, alerts."""
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.title().strip()
    assert page.locator("h1").count() == 1, page.locator("h1").all_inner_texts()
    levels = page.evaluate("() => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]"
                           ".map(h => Number(h.tagName[1]))")
    assert levels[0] == 1 and all(b - a <= 1 for a, b in pairwise(levels)), levels
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
        'input:not([type=hidden]):not([type=submit]), select, textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                     && !e.getAttribute('aria-labelledby'))
        .map(e => e.outerHTML)""")
    assert unlabelled == []
    for label in page.locator("label[for]").all():
        assert page.locator(f"#{label.get_attribute('for')}").count() == 1
    for described in page.locator("[aria-describedby]").all():
        for ref in (described.get_attribute("aria-describedby") or "").split():
            assert page.locator(f"#{ref}").count() == 1, ref
    for alert in page.locator(".alert-error").all():
        assert alert.get_attribute("role") == "alert"
    for button in page.get_by_role("button").all():
        assert button.inner_text().strip()


def no_horizontal_scroll(page: Page) -> None:
    sizes = page.evaluate("() => [document.documentElement.scrollWidth,"
                          " document.documentElement.clientWidth]")
    assert sizes[0] <= sizes[1], f"scrollWidth {sizes[0]} > clientWidth {sizes[1]}"


def within_screen(page: Page, locator: Any) -> None:
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    width = page.viewport_size["width"]  # type: ignore[index]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def radio_labels(page: Page) -> list[str]:
    return [" ".join(page.locator(f"label[for='{radio.get_attribute('id')}']")
                     .inner_text().split())
            for radio in page.get_by_role("radio").all()]


# --- the login page -----------------------------------------------------------------------


def test_login_page_wording_and_keyboard_only_login(world: World, page: Page,
                                                    screenshot: Callable[..., Any]) -> None:
    client = world.client("Tableau de bord ESMS", ["TDBESMS"])  # one eligible profile
    auth = authorization(world, client)
    page.goto(auth.url)
    page.wait_for_url(re.compile(r"/connexion\?"))
    accessible(page)
    expect(page.get_by_label("Identifiant Plage")).to_be_editable()
    expect(page.get_by_label("Mot de passe")).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Se connecter")).to_be_visible()
    expect(page.get_by_role("link", name="Identifiant perdu ?")).to_be_visible()
    expect(page.get_by_role("link", name="Mot de passe oublié ?")).to_be_visible()
    expect(page.get_by_text("Veuillez renseigner votre Identifiant Plage et votre mot de passe."
                            )).to_be_visible()
    expect(page.get_by_text("Les champs marqués d'un astérisque (*) sont obligatoires.")
           ).to_be_visible()
    header = page.locator("header").bounding_box()
    panel = page.locator("main .panel").bounding_box()
    assert header and panel and panel["y"] >= header["y"] + header["height"] + 16  # room
    screenshot(page, "1-login")

    # Keyboard only: the identifier has the focus, Tab goes through the link to the
    # password, Enter submits.
    expect(page.get_by_label("Identifiant Plage")).to_be_focused()
    page.keyboard.type(world.person)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Identifiant perdu ?")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Mot de passe")).to_be_focused()
    page.keyboard.type(d.PASSWORD)
    screenshot(page, "2-typed")
    page.keyboard.press("Enter")

    params = landed(page, auth)
    screenshot(page, "3-relying-app")
    assert params["iss"] == world.base and "error" not in params
    claims = id_token_claims(world, auth, params["code"])
    assert claims["sub"] == world.person
    assert claims["profile"]["id"] == str(world.profile_x)  # the only TDBESMS profile


def test_form_post_answers_reach_the_application_under_the_strict_policy(
        world: World, page: Page) -> None:
    """The form_post page posts itself by a script of our own: the Content-Security-Policy
    that keeps injected inline code from running lets it through."""
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    client = world.client("Tableau de bord ESMS", ["TDBESMS"])
    auth = authorization(world, client, response_mode="form_post")
    response = page.goto(auth.url)
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    sign_in(page, world.person)
    page.wait_for_url(auth.client.redirect_uri)  # posted: no query string
    expect(page.get_by_role("heading", name="Retour à l'application")).to_be_visible()
    assert page.locator("td[data-param=state]").inner_text() == auth.state
    code = page.locator("td[data-param=code]").inner_text()
    assert id_token_claims(world, auth, code)["sub"] == world.person
    assert violations == []


def test_wrong_password_says_so_and_keeps_the_identifier(world: World, page: Page,
                                                         screenshot: Callable[..., Any]) -> None:
    page.goto(f"{world.base}/connexion")
    sign_in(page, world.person, "pas-le-bon-mot-de-passe")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(BAD_CREDENTIALS)
    expect(page.get_by_label("Identifiant Plage")).to_have_value(world.person)
    expect(page.get_by_label("Mot de passe")).to_have_value("")
    accessible(page)
    screenshot(page, "wrong-password")

    # Empty fields: each field says what is missing, next to it.
    page.get_by_label("Identifiant Plage").fill("")
    page.get_by_role("button", name="Se connecter").click()
    identifier = page.get_by_label("Identifiant Plage")
    expect(identifier).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#identifier-error")).to_have_text(
        "Veuillez renseigner votre identifiant Plage.")
    expect(page.locator("#password-error")).to_have_text(
        "Veuillez renseigner votre mot de passe.")
    accessible(page)
    screenshot(page, "empty-fields")

    # And the right password still works from there.
    sign_in(page, world.person)
    page.wait_for_url(re.compile(r"/compte"))


# --- the profile choice -------------------------------------------------------------------


def test_choose_the_second_profile_then_it_is_preselected(
        world: World, page: Page, screenshot: Callable[..., Any]) -> None:
    client = world.client("ANCRE", ["ANCRE"])
    auth = authorization(world, client)
    page.goto(auth.url)
    sign_in(page, world.person)

    expect(page.get_by_role("heading", level=1)).to_have_text(CHOOSE)
    accessible(page)
    radios = page.get_by_role("radio")
    expect(radios).to_have_count(2)
    assert radio_labels(page) == [
        f"Directrice EHPAD Les Tilleuls EHPAD Les Tilleuls – FINESS {world.finess_x} "
        "Gestionnaire de fichiers",
        f"Directrice EHPAD Le Verger EHPAD Le Verger – FINESS {world.finess_y} Lecteur",
    ]
    expect(radios.nth(0)).to_be_checked()  # nothing chosen before: the first
    screenshot(page, "1-choice")

    radios.nth(1).check()
    assert radios.nth(1).get_attribute("value") == str(world.profile_y)
    page.get_by_role("button", name="Valider").click()
    params = landed(page, auth)
    screenshot(page, "2-relying-app")
    claims = id_token_claims(world, auth, params["code"])
    assert claims["profile"] == {"id": str(world.profile_y), "label": "Directrice EHPAD Le Verger"}
    assert claims["entity"]["finess"] == world.finess_y
    assert claims["roles"] == {"ANCRE": ["LECTEUR"]}

    # The application asks to choose again: no password (single sign-on), the last
    # choice pre-selected; choosing the other one switches.
    again = authorization(world, client, prompt="select_account")
    page.goto(again.url)
    expect(page.get_by_role("heading", level=1)).to_have_text(CHOOSE)
    expect(radios.nth(1)).to_be_checked()
    expect(radios.nth(0)).not_to_be_checked()
    screenshot(page, "3-preselected")
    radios.nth(0).check()
    page.get_by_role("button", name="Valider").click()
    claims = id_token_claims(world, again, landed(page, again)["code"])
    assert claims["profile"]["id"] == str(world.profile_x)


def test_profile_choice_with_the_keyboard(world: World, page: Page) -> None:
    client = world.client("ANCRE", ["ANCRE"])
    auth = authorization(world, client)
    page.goto(auth.url)
    sign_in(page, world.person)
    expect(page.get_by_role("heading", level=1)).to_have_text(CHOOSE)
    # The first Tab reaches the skip link, which leads to the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Aller au contenu")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    first = page.get_by_role("radio").nth(0)
    expect(first).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("radio").nth(1)).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Valider")).to_be_focused()
    page.keyboard.press("Enter")
    claims = id_token_claims(world, auth, landed(page, auth)["code"])
    assert claims["profile"]["id"] == str(world.profile_y)


# --- consent ------------------------------------------------------------------------------


def test_consent_lists_the_scopes_in_french(world: World, page: Page,
                                            screenshot: Callable[..., Any]) -> None:
    client = world.client("Observatoire régional", ["TDBESMS"], first_party=False)
    auth = authorization(world, client)
    page.goto(auth.url)
    sign_in(page, world.person)

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "L'application Observatoire régional demande à accéder à vos informations")
    accessible(page)
    items = page.locator("main li")
    expect(items).to_have_text([
        "Le profil choisi : son entité de rattachement (nom, type, FINESS) et vos rôles "
        "dans les domaines de l'application",
        "Vos nom, prénom et identifiant Plage",
    ])
    expect(page.get_by_role("button", name="Autoriser")).to_be_visible()
    expect(page.get_by_role("button", name="Refuser")).to_be_visible()
    screenshot(page, "1-consent")
    page.get_by_role("button", name="Autoriser").click()
    params = landed(page, auth)
    assert "code" in params
    assert id_token_claims(world, auth, params["code"])["profile"]["id"] == str(world.profile_x)

    # The decision is remembered: the next login goes straight back to the application.
    again = authorization(world, client)
    page.goto(again.url)
    assert "code" in landed(page, again)


def test_refusing_consent_sends_access_denied(world: World, page: Page,
                                              screenshot: Callable[..., Any]) -> None:
    client = world.client("Observatoire régional", ["TDBESMS"], first_party=False)
    auth = authorization(world, client)
    page.goto(auth.url)
    sign_in(page, world.person)
    page.get_by_role("button", name="Refuser").click()
    params = landed(page, auth)
    screenshot(page, "relying-app")
    assert params["error"] == "access_denied" and "code" not in params

    # Nothing was remembered: asked again next time.
    again = authorization(world, client)
    page.goto(again.url)
    expect(page.get_by_role("button", name="Autoriser")).to_be_visible()


# --- when the login cannot go on ----------------------------------------------------------


def test_no_valid_right_names_the_domain_and_the_administrators(
        world: World, page: Page, screenshot: Callable[..., Any]) -> None:
    client = world.client("SAGA Directeurs", ["SAGA"])
    auth = authorization(world, client)
    page.goto(auth.url)
    sign_in(page, world.person)

    expect(page.get_by_role("heading", level=1)).to_have_text("Aucun droit valide")
    expect(page.get_by_role("alert")).to_have_text(NO_VALID_RIGHT)
    main = page.locator("main")
    expect(main).to_contain_text("Pour vous connecter à SAGA Directeurs, l'un de vos profils "
                                 "actifs doit détenir un rôle dans le domaine SAGA Directeurs.")
    expect(page.get_by_role("heading", name="Vos administrateurs")).to_be_visible()
    expect(page.get_by_role("heading", name=f"EHPAD Les Tilleuls (FINESS {world.finess_x})")
           ).to_be_visible()
    expect(main).to_contain_text("Paul Durand – administrateur principal (APE)")
    expect(page.get_by_role("link", name="paul.durand@example.test")).to_have_attribute(
        "href", "mailto:paul.durand@example.test")
    expect(page.get_by_role("heading", name=f"EHPAD Le Verger (FINESS {world.finess_y})")
           ).to_be_visible()
    expect(main).to_contain_text("Aucun administrateur n'est encore désigné pour cette entité")
    accessible(page)
    screenshot(page, "1-no-valid-right")

    page.get_by_role("button", name="Retourner à l'application").click()
    params = landed(page, auth)
    assert params["error"] == "access_denied" and "code" not in params
    screenshot(page, "2-relying-app")


def test_exclusive_roles_page_says_what_to_fix_and_who_can(
        world: World, page: Page, screenshot: Callable[..., Any]) -> None:
    def build() -> str:
        someone = d.account("Luc", "Bernard")
        etab_x = db.session.get(Profile, world.profile_x).entity  # type: ignore[union-attr]
        profile = d.profile(someone, etab_x, "Comptable EHPAD Les Tilleuls", "ANCRE/LECTEUR")
        # services.grant refuses the second exclusive role: insert it as old data would be.
        db.session.add(Habilitation(profile_id=profile.id,
                                    role_id=services.get_role("ANCRE",
                                                              "GESTIONNAIRE_FICHIERS").id))
        db.session.commit()
        return someone.identifier

    identifier = world.run(build)
    client = world.client("ANCRE", ["ANCRE"])
    auth = authorization(world, client)
    page.goto(auth.url)
    sign_in(page, identifier)

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Connexion impossible : rôles incompatibles")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Comptable EHPAD Les Tilleuls")
    expect(alert).to_contain_text("« Gestionnaire de fichiers »")
    expect(alert).to_contain_text("« Lecteur »")
    expect(alert).to_contain_text("du domaine ANCRE, qui sont exclusifs")
    main = page.locator("main")
    fix = re.search(r"Un administrateur de l'entité doit retirer l'un d'eux dans PLAGE : il "
                    r"ne faut attribuer qu'un seul rôle, soit « ([^»]+) », soit « ([^»]+) »\.",
                    " ".join(main.inner_text().split()))
    assert fix and {fix[1], fix[2]} == {"Gestionnaire de fichiers", "Lecteur"}
    expect(page.get_by_role("heading", level=2)).to_have_text(
        "Qui peut corriger le profil « Comptable EHPAD Les Tilleuls »")
    expect(main).to_contain_text("Paul Durand – administrateur principal (APE)")
    expect(page.get_by_role("link", name="paul.durand@example.test")).to_be_visible()
    accessible(page)
    screenshot(page, "1-conflict")

    page.get_by_role("button", name="Retourner à l'application").click()
    params = landed(page, auth)
    assert params["error"] == "access_denied"


def test_unknown_redirect_uri_is_a_page_not_a_redirect(world: World, page: Page,
                                                       screenshot: Callable[..., Any]) -> None:
    client = world.client("ANCRE", ["ANCRE"])
    forged = Registered(client.client_id, client.secret, f"{world.rp}/ailleurs")
    page.goto(authorization(world, forged).url)
    assert page.url.startswith(f"{world.base}/authorize?")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion impossible")
    expect(page.locator("#error-code")).to_have_text(re.compile(r"\w+"))
    accessible(page)
    screenshot(page, "error")


# --- small screens ------------------------------------------------------------------------


def test_login_and_choice_fit_a_small_screen(world: World, browser: Any,
                                             screenshot: Callable[..., Any]) -> None:
    context = browser.new_context(locale="fr-FR", viewport=SMALL_SCREEN, is_mobile=True,
                                  has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        client = world.client("ANCRE", ["ANCRE"])
        auth = authorization(world, client)
        page.goto(auth.url)
        no_horizontal_scroll(page)
        within_screen(page, page.get_by_role("button", name="Se connecter"))
        within_screen(page, page.get_by_label("Identifiant Plage"))
        within_screen(page, page.get_by_role("link", name="Mot de passe oublié ?"))
        screenshot(page, "1-login")

        sign_in(page, world.person, "pas-le-bon-mot-de-passe")
        expect(page.get_by_role("alert")).to_have_text(BAD_CREDENTIALS)
        no_horizontal_scroll(page)
        screenshot(page, "2-wrong-password")

        sign_in(page, world.person)
        expect(page.get_by_role("radio")).to_have_count(2)
        no_horizontal_scroll(page)
        within_screen(page, page.get_by_role("button", name="Valider"))
        for radio in page.get_by_role("radio").all():
            within_screen(page, radio)
        # The profile is chosen on the page: the header's menu does not say another one.
        expect(page.get_by_role("combobox", name="Profil actif")).to_have_count(0)
        screenshot(page, "3-choice")

        page.get_by_role("radio").nth(1).check()
        page.get_by_role("button", name="Valider").click()
        assert "code" in landed(page, auth)

        saga = world.client("SAGA Directeurs", ["SAGA"])
        page.goto(authorization(world, saga).url)
        expect(page.get_by_role("alert")).to_have_text(NO_VALID_RIGHT)
        no_horizontal_scroll(page)
        within_screen(page, page.get_by_role("button", name="Retourner à l'application"))
        within_screen(page, page.get_by_role("combobox", name="Profil actif"))
        within_screen(page, page.get_by_role("button", name="Changer de profil"))
        screenshot(page, "4-no-valid-right")
    finally:
        context.close()
