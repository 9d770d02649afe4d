"""A national administrator registers a client application on the web page; nobody else
may, and the secret is shown once."""

from __future__ import annotations

import re
from html import unescape

from flask.testing import FlaskClient

from idp.clients.models import Client
from idp.directory.enums import EntityType
from idp.extensions import db
from tests.support import directory as d
from tests.support.html import csrf_token
from tests.support.web import sign_in


def _login(browser: FlaskClient, identifier: str) -> None:
    assert sign_in(browser, identifier).status_code == 302


def _people(app) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        world = d.ancre_world()
        atih = d.entity("ATIH", EntityType.NAT, "Agence technique de l'information sur "
                        "l'hospitalisation")
        admin = d.account("Nadia", "Nationale")
        d.profile(admin, atih, "Administratrice nationale", "ADMINISTRATION/ADMINISTRATEUR")
        db.session.commit()
        return admin.identifier, world.ape.identifier


def test_a_national_administrator_registers_an_application(make_app, database_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(database_url)
    admin, _ = _people(app)
    browser = app.test_client()
    _login(browser, admin)

    home = browser.get("/compte/").get_data(as_text=True)
    assert "Applications clientes" in home
    form = browser.get("/admin/applications/nouvelle").get_data(as_text=True)
    assert re.search(r'<option selected value="ES256">|<option value="ES256" selected',
                     form), "ES256 offered first"
    assert 'value="RS256"' in form
    response = browser.post("/admin/applications/nouvelle", data={
        "csrf_token": csrf_token(form), "name": "ANCRE", "domains": ["ANCRE"],
        "kind": "confidential", "redirect_uris": "https://ancre.example.fr/callback\n",
        "id_token_signed_response_alg": "ES256",
    })
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "il ne sera plus jamais affiché" in page
    secret = re.search(r'id="client-secret">([^<]+)<', page).group(1)
    client_id = re.search(r'id="client-id">([^<]+)<', page).group(1)
    with app.app_context():
        client = db.session.scalar(db.select(Client).filter_by(client_id=client_id))
        assert client.domains == ["ANCRE"]
        assert client.redirect_uris == ["https://ancre.example.fr/callback"]
        assert client.id_token_signed_response_alg == "ES256"
        assert client.check_client_secret(secret)
        assert secret not in (client.client_secret_hash or "")
    listing = browser.get("/admin/applications").get_data(as_text=True)
    assert client_id in listing and "Confidentiel" in listing
    edit = browser.get(f"/admin/applications/{client_id}").get_data(as_text=True)
    assert secret not in edit


def _register(app, **fields: object):  # type: ignore[no-untyped-def]
    """A national administrator submits the new-application form with `fields`."""
    admin, _ = _people(app)
    browser = app.test_client()
    _login(browser, admin)
    form = browser.get("/admin/applications/nouvelle").get_data(as_text=True)
    return browser.post("/admin/applications/nouvelle", data={
        "csrf_token": csrf_token(form), "domains": ["ANCRE"], "kind": "confidential",
        "redirect_uris": "https://ancre.example.fr/callback",
        "id_token_signed_response_alg": "RS256", **fields})


def test_bad_settings_are_refused_with_the_form_kept(make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(sqlite_url)
    response = _register(app, name="Appli douteuse",
                         redirect_uris="http://evil.example.com/cb")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Appli douteuse" in page  # nothing typed is lost
    alerts = [unescape(m) for m in re.findall(
        r'<p class="alert alert-error" role="alert">(.*?)</p>', page, re.S)]
    assert alerts == ["L'URI de redirection http://evil.example.com/cb doit utiliser https "
                      "(http seulement pour 127.0.0.1, [::1] ou localhost)."]
    with app.app_context():
        assert db.session.scalar(db.select(Client).filter_by(name="Appli douteuse")) is None


def test_only_national_administrators_reach_the_registry(make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(sqlite_url)
    _, establishment_admin = _people(app)
    anonymous = app.test_client()
    assert anonymous.get("/admin/applications").status_code == 302  # to the login page
    browser = app.test_client()
    _login(browser, establishment_admin)
    response = browser.get("/admin/applications")
    assert response.status_code == 403
    assert "réservée aux administrateurs de niveau national" in response.get_data(as_text=True)


def test_disabling_an_application_blocks_its_logins(make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    app = make_app(sqlite_url)
    admin, _ = _people(app)
    with app.app_context():
        client, _secret = d.client("SAGA", ["SAGA"], ["http://127.0.0.1:9/cb"])
        db.session.commit()
        client_id = client.client_id
    browser = app.test_client()
    _login(browser, admin)
    page = browser.get(f"/admin/applications/{client_id}").get_data(as_text=True)
    response = browser.post(f"/admin/applications/{client_id}/desactiver",
                            data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    authorize = browser.get("/authorize", query_string={
        "client_id": client_id, "response_type": "code", "scope": "openid",
        "redirect_uri": "http://127.0.0.1:9/cb"})
    assert authorize.status_code == 400  # shown on our page, never redirected
    assert "invalid_client" in authorize.get_data(as_text=True)


def test_the_built_in_checks_answer_in_french(make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    response = _register(make_app(sqlite_url), name="A" * 256,
                         id_token_signed_response_alg="HS256")
    page = unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert "Le champ ne peut pas contenir plus de 255 caractères." in page
    assert "N'est pas un choix valide" in page
    assert "Field cannot" not in page and "Not a valid" not in page
