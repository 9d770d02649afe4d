"""The OIDC issue's acceptance scenario, as a relying application meets it.

With `idp demo` loaded and an application registered with `idp clients create` for the
ANCRE domain, the demo person who holds two ANCRE profiles signs in, chooses the second
one and receives an ID token whose `entity` and `roles` are that profile's; registered
for a domain she has no role in, another application gets her the "aucun droit valide"
page and the client receives access_denied.
"""

from __future__ import annotations

import json
import secrets

import pytest

from idp.cli import cli
from idp.directory.demo import demo_data
from idp.directory.models import Profile
from idp.extensions import db
from tests.support.oidc import (
    Arrival,
    Browser,
    Page,
    Provider,
    RelyingParty,
    Serve,
)

CAMILLE = "463471"  # demo.toml: two ANCRE profiles, as in the ANCRE guide's example


@pytest.fixture
def provider(serve: Serve, sqlite_url: str) -> Provider:
    op = serve(sqlite_url)
    runner = op.app.test_cli_runner()
    for command in (["init"], ["demo"]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 0, result.output
    return op


def register_with_cli(op: Provider, domain: str) -> RelyingParty:
    redirect_uri = f"https://{secrets.token_hex(4)}.apps.test/callback"
    result = op.app.test_cli_runner().invoke(cli, [
        "clients", "create", "--name", f"Application {domain}", "--domain", domain,
        "--redirect-uri", redirect_uri, "--first-party", "--json"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    return RelyingParty(op, created["client_id"], created["client_secret"], redirect_uri)


def camille() -> dict[str, str]:
    return next(p for p in demo_data()["people"] if p["identifier"] == CAMILLE)


def test_the_demo_person_chooses_her_second_ancre_profile(provider: Provider) -> None:
    rp = register_with_cli(provider, "ANCRE")
    person = camille()
    second = person["profiles"][1]

    def second_profile_id() -> int:
        return db.session.scalar(db.select(Profile.id).filter_by(label=second["label"]))

    request = rp.begin()
    choice = Browser(provider).authorize(request.url, CAMILLE, password=person["password"],
                                         stop_at="profile_choice")
    assert isinstance(choice, Page) and choice.kind == "profile_choice"
    assert person["profiles"][0]["label"] in choice.text and second["label"] in choice.text

    browser = Browser(provider)
    arrival = browser.authorize(request.url, CAMILLE, password=person["password"],
                                profile=provider.run(second_profile_id))
    tokens = rp.exchange(request, rp.code_from(request, arrival))
    claims = tokens.id_claims
    assert claims["sub"] == CAMILLE
    assert claims["profile"]["label"] == second["label"]
    assert claims["entity"]["finess"] == second["entity"]
    assert claims["entity"]["type"] == "ET"
    assert claims["roles"] == {"ANCRE": ["LECTEUR"]}


def test_the_same_person_has_no_valid_right_in_another_domain(provider: Provider) -> None:
    rp = register_with_cli(provider, "SAGA")
    request = rp.begin()
    browser = Browser(provider)
    page = browser.authorize(request.url, CAMILLE, password=camille()["password"])
    assert isinstance(page, Page) and page.status == 403
    assert "Vous n'avez aucun droit valide défini au niveau de votre compte utilisateur" in (
        page.text)
    assert "SAGA Directeurs" in page.text
    arrival = browser.submit(page, form_index=page.form_to("/abandon"))
    assert isinstance(arrival, Arrival) and arrival.url == rp.redirect_uri
    assert arrival.params["error"] == "access_denied"
    assert arrival.params["state"] == request.state
