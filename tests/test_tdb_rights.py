"""The TdB ESMS guide's rights table, row by row, in the demo Tableau de bord.

Each person signs in through the provider; the demo application derives the row from
the token's `entity` (OG or ET) and `roles` (TDBESMS) claims. The expectations below are
written from the guide, not from the application's table:

    Compte Profil        Consultation               Saisie – modification     Validation
    OG     Gestionnaire  OUI (OG + ses ESMS)        PARTIEL (OG + certaines   PARTIEL (ce qu'il
                                                    données ESMS, subsidiarité) a saisi)
    OG     Lecteur       OUI (OG + ses ESMS)        NON                       NON
    ESMS   Gestionnaire  OUI (données propres)      OUI (données propres)     OUI (données propres)
    ESMS   Lecteur       OUI (données propres)      NON                       NON
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from demo_apps import tdb
from demo_apps.registration import TDB
from idp.directory import services
from idp.directory.enums import EntityType
from idp.extensions import db
from tests.support import directory as d
from tests.support.oidc import Page, Provider, Serve
from tests.support.rp import AppBrowser, app_server, serve_demo

OG, OWN_ESMS, SIBLING_ESMS, FOREIGN_ESMS = "580003010", "580003028", "580003036", "440005023"
# What entering each of these would be: (structure, indicator).
ENTRIES = {
    "fiche de l'OG": (OG, "og_etp"),
    "subsidiarité, ESMS de l'OG": (SIBLING_ESMS, "taux_caf"),
    "hors subsidiarité, ESMS de l'OG": (SIBLING_ESMS, "taux_occupation"),
    "donnée propre de l'ESMS": (OWN_ESMS, "taux_absenteisme"),
    "subsidiarité, l'ESMS lui-même": (OWN_ESMS, "domaines_si"),
}
# Values of OWN_ESMS already entered (demo_apps/tdb/data.toml): by whom.
VALIDATIONS = {"saisie par l'OG": (OWN_ESMS, "taux_caf"),
               "saisie par l'ESMS": (OWN_ESMS, "taux_occupation")}


@dataclass(frozen=True)
class GuideRow:
    account: str
    profile: str
    entity: str  # where the profile is
    role: str
    rights: tuple[str, str, str]  # Consultation, Saisie – modification, Validation
    consults: set[str]
    enters: set[str] = field(default_factory=set)
    validates: set[str] = field(default_factory=set)


GUIDE_TABLE = [
    GuideRow("OG", "Gestionnaire", OG, "GESTIONNAIRE_FICHIERS",
             ("OUI (données OG et données de ses ESMS)",
              "PARTIEL (données OG et certaines données de ses ESMS en subsidiarité)",
              "PARTIEL (uniquement les données qu'il a saisies)"),
             consults={OG, OWN_ESMS, SIBLING_ESMS},
             enters={"fiche de l'OG", "subsidiarité, ESMS de l'OG",
                     "subsidiarité, l'ESMS lui-même"},
             validates={"saisie par l'OG"}),
    GuideRow("OG", "Lecteur", OG, "LECTEUR",
             ("OUI (données OG et données de ses ESMS)", "NON", "NON"),
             consults={OG, OWN_ESMS, SIBLING_ESMS}),
    GuideRow("ESMS", "Gestionnaire", OWN_ESMS, "GESTIONNAIRE_FICHIERS",
             ("OUI (données propres)",) * 3,
             consults={OWN_ESMS},
             enters={"donnée propre de l'ESMS", "subsidiarité, l'ESMS lui-même"},
             validates={"saisie par l'OG", "saisie par l'ESMS"}),
    GuideRow("ESMS", "Lecteur", OWN_ESMS, "LECTEUR",
             ("OUI (données propres)", "NON", "NON"),
             consults={OWN_ESMS}),
]


@dataclass
class Tdb:
    op: Provider
    base: str

    def person(self, name: str, *profiles: tuple[str, str]) -> tuple[str, list[int]]:
        """An account with a TDBESMS profile per (entity FINESS or code, role)."""
        def create() -> tuple[str, list[int]]:
            given, family = name.split(" ", 1)
            account = d.account(given, family)
            ids = [d.profile(account, services.get_entity(code), f"Profil {code}",
                             f"TDBESMS/{role}").id for code, role in profiles]
            db.session.commit()
            return account.identifier, ids

        return self.op.run(create)

    def sign_in(self, identifier: str, profile: int | None = None,
                status: int = 200) -> AppBrowser:
        browser = AppBrowser(self.op, [self.base])
        page = browser.authorize(self.base + "/tableau", identifier, profile=profile)
        assert isinstance(page, Page) and page.status == status, page
        return browser


def _referential() -> None:
    """The provider's entities for the TdB's referential (demo_apps/tdb/data.toml); the
    ANCRE world brings the ARS of region 27."""
    d.ancre_world()
    og = d.entity(OG, EntityType.EJ, "ASSOCIATION MORVAN SOLIDARITÉS", finess_number=OG,
                  departement="58", region="27")
    for finess in (OWN_ESMS, SIBLING_ESMS, "580003044"):
        d.entity(finess, EntityType.ET, f"ESMS {finess}", finess_number=finess,
                 departement="58", region="27", managing_og=og, parent=og)
    other_og = d.entity("440005015", EntityType.EJ, "FONDATION ESTUAIRE",
                        finess_number="440005015", departement="44", region="52")
    for finess in (FOREIGN_ESMS, "440005031"):
        d.entity(finess, EntityType.ET, f"ESMS {finess}", finess_number=finess,
                 departement="44", region="52", managing_og=other_og, parent=other_og)
    lone = d.entity("580000107", EntityType.EJ, "CH DE LORMES", finess_number="580000107",
                    departement="58", region="27")
    d.entity("580000966", EntityType.ET, "SSIAU DU CH DE LORMES", finess_number="580000966",
             departement="58", region="27", managing_og=lone, parent=lone)
    db.session.commit()


@pytest.fixture
def tdb_world(serve: Serve, sqlite_url: str,
              tmp_path: Path) -> Iterator[Tdb]:
    with app_server() as serve_app:
        op = serve(sqlite_url)
        op.run(_referential)
        _app, base = serve_demo(op, serve_app, tdb.create_app, TDB, str(tmp_path / "tdb"))
        yield Tdb(op, base)


def cells(page: Page, table_id: str) -> list[str]:
    """The text of the first body row's cells of a table."""
    body = page.text.split(f'id="{table_id}"', 1)[1].split("<tbody>", 1)[1]
    row = body.split("</tr>", 1)[0]
    parts = [part.split("</td>", 1)[0] for part in row.split("<td")[1:]]
    return [" ".join(_strip_tags(p.split(">", 1)[1]).split()) for p in parts]


def _strip_tags(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def form_actions(page: Page) -> set[tuple[str, str]]:
    """(action URL path, "saisir"/"valider") of every form of a structure page."""
    return {(form.action, form.fields.get("action", "")) for form in page.forms
            if "action" in form.fields}


@pytest.mark.parametrize("row", GUIDE_TABLE, ids=lambda r: f"{r.account}-{r.profile}")
def test_a_row_of_the_guides_rights_table(tdb_world: Tdb, row: GuideRow) -> None:
    identifier, _ = tdb_world.person("Camille Test", (row.entity, row.role))
    browser = tdb_world.sign_in(identifier)
    base = tdb_world.base

    dashboard = browser.page(base + "/tableau")
    assert cells(dashboard, "rights") == [row.account, row.profile, *row.rights]
    listed = {f for f in (OG, OWN_ESMS, SIBLING_ESMS, FOREIGN_ESMS)
              if f'data-finess="{f}"' in dashboard.html}
    assert listed == row.consults

    # Consultation
    for finess in (OG, OWN_ESMS, SIBLING_ESMS, FOREIGN_ESMS, "580000966"):
        page = browser.page(f"{base}/structures/{finess}")
        assert page.status == (200 if finess in row.consults else 403), finess

    csrf = dashboard.forms[0].fields["csrf_token"]  # of the "Se déconnecter" form

    def post(finess: str, indicator: str, **data: str) -> int:
        response = browser.http.post(f"{base}/structures/{finess}/{indicator}",
                                     data={"csrf_token": csrf, **data},
                                     allow_redirects=False, timeout=10)
        return response.status_code

    # Saisie – modification: the page offers exactly the allowed forms, and POSTs agree.
    for name, (finess, indicator) in ENTRIES.items():
        allowed = name in row.enters
        if finess in row.consults:
            offered = form_actions(browser.page(f"{base}/structures/{finess}"))
            assert ((f"/structures/{finess}/{indicator}", "saisir") in offered) == allowed, name
        assert post(finess, indicator, action="saisir", value="42") == (
            303 if allowed else 403), name

    # Validation
    for name, (finess, indicator) in VALIDATIONS.items():
        allowed = name in row.validates
        offered = form_actions(browser.page(f"{base}/structures/{finess}"))
        assert ((f"/structures/{finess}/{indicator}", "valider") in offered) == allowed, name
        assert post(finess, indicator, action="valider") == (303 if allowed else 403), name
        if allowed:
            row_html = browser.page(f"{base}/structures/{finess}").html.split(
                f'id="ind-{indicator}"', 1)[1].split("</tr>", 1)[0]
            assert "Validé" in row_html


def test_switching_profile_changes_what_is_seen(tdb_world: Tdb) -> None:
    identifier, (og_profile, esms_profile) = tdb_world.person(
        "Philippe Moreau", (OG, "GESTIONNAIRE_FICHIERS"), (OWN_ESMS, "LECTEUR"))
    browser = tdb_world.sign_in(identifier, profile=og_profile)
    page = browser.page(tdb_world.base + "/tableau")
    assert cells(page, "rights")[:2] == ["OG", "Gestionnaire"]
    assert f'data-finess="{SIBLING_ESMS}"' in page.html
    result = browser.authorize(
        tdb_world.base + "/plage/connexion?prompt=select_account&next=/tableau",
        profile=esms_profile)
    assert isinstance(result, Page) and result.url == tdb_world.base + "/tableau"
    assert cells(result, "rights")[:2] == ["ESMS", "Lecteur"]
    assert f'data-finess="{SIBLING_ESMS}"' not in result.html
    assert "Changer de profil" in result.text


def test_regional_profiles_consult_their_territory_read_only(tdb_world: Tdb) -> None:
    identifier, _ = tdb_world.person("Laurent Blanc", ("ARS27", "LECTEUR"))
    browser = tdb_world.sign_in(identifier)
    page = browser.page(tdb_world.base + "/tableau")
    assert cells(page, "rights")[:3] == ["ARS", "Lecteur",
                                          "OUI (données des ESMS de son territoire)"]
    assert f'data-finess="{SIBLING_ESMS}"' in page.html
    assert f'data-finess="{FOREIGN_ESMS}"' not in page.html
    assert browser.page(f"{tdb_world.base}/structures/{FOREIGN_ESMS}").status == 403


def test_an_ej_that_is_not_an_og_may_not_enter(tdb_world: Tdb) -> None:
    identifier, _ = tdb_world.person("Bernard Mercier", ("580000107", "GESTIONNAIRE_FICHIERS"))
    browser = tdb_world.sign_in(identifier, status=403)
    page = browser.page(tdb_world.base + "/tableau")
    assert page.status == 403
    assert ("Vous n'avez pas les permissions suffisantes pour accéder à cette page. "
            "Seuls les rôles OG, ESMS, ARS, CD, NATIONAL sont autorisés") in " ".join(
                page.text.split())
