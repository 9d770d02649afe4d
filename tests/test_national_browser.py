"""Administration nationale et régionale in headless Chromium, with screenshots: an ARS
administrator finds « Nomination des APE » in the menu and appoints the APE of an
establishment of his region; a national administrator imports a FINESS extract and
follows its progress. The pages pass the accessibility checks and fit a phone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests import test_pages_browser as pages
from tests.support import directory as d
from tests.test_national_pages import ET_NEVERS, build

pytestmark = pytest.mark.browser
Shot = Callable[..., Any]


def open_menu(page: Page, entry: str) -> None:
    page.locator("summary", has_text="Administration").click()
    page.get_by_role("link", name=entry).click()


def test_an_ars_administrator_appoints_an_ape_from_the_menu(
        make_app: Callable[..., Flask], sqlite_url: str, live_server: Callable[[Flask], str],
        page: Page, screenshot: Shot) -> None:
    app = make_app(sqlite_url)
    people = build(app)
    base = live_server(app)
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(base + "/connexion")
    pages.sign_in(page, people.ars27)

    open_menu(page, "Entités")
    expect(page.get_by_role("heading", level=1)).to_have_text("Entités")
    page.get_by_label("FINESS, code, raison sociale ou ville").fill("nevers")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_role("status").filter(has_text="entité")).to_have_text("1 entité")
    pages.accessible(page)
    pages.no_horizontal_scroll(page)
    screenshot(page, "1-entites-de-la-region")

    open_menu(page, "Nomination des APE")
    row = page.locator("tr", has_text="EHPAD de Nevers")
    expect(row).to_contain_text("Fanny Ancienne")
    row.get_by_role("link", name="Nommer l'APE").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Nommer l'administrateur principal")
    page.get_by_label("Profil").select_option(
        label="Simon Successeur – Directeur EHPAD de Nevers")
    pages.accessible(page)
    pages.no_horizontal_scroll(page)
    screenshot(page, "2-nommer")
    page.get_by_role("button", name="Nommer administrateur principal").click()
    expect(page.get_by_role("status").filter(has_text="est désormais")).to_contain_text(
        "Simon Successeur est désormais l'administrateur principal")
    expect(page.locator("#current-ape")).to_have_text(
        "Simon Successeur – Directeur EHPAD de Nevers")
    screenshot(page, "3-nomme")


def test_a_national_administrator_imports_a_finess_extract(
        make_app: Callable[..., Flask], sqlite_url: str, live_server: Callable[[Flask], str],
        page: Page, screenshot: Shot, tmp_path: Path) -> None:
    app = make_app(sqlite_url)
    people = build(app)
    base = live_server(app)
    wrong = ET_NEVERS[:-1] + str((int(ET_NEVERS[-1]) + 1) % 10)
    bad = tmp_path / "extrait-faux.csv"
    bad.write_text(f"finess;type;name\n{d.finess('21000001')};ET;EHPAD de Dijon\n"
                   f"{wrong};ET;Clé fausse\n", encoding="utf-8")
    good = tmp_path / "extrait.csv"
    good.write_text(f"finess;type;name\n{d.finess('21000001')};ET;EHPAD de Dijon\n",
                    encoding="utf-8")
    page.goto(base + "/connexion")
    pages.sign_in(page, people.national)
    open_menu(page, "Entités")
    page.get_by_role("link", name="Importer un extrait FINESS").click()

    page.get_by_label("Fichier CSV").set_input_files(str(bad))
    page.get_by_role("button", name="Vérifier et importer").click()
    expect(page.locator("#import-problems")).to_contain_text("ligne 3 : la clé")
    # (no pages.accessible here: Chromium gives the file input's own button no text)
    pages.no_horizontal_scroll(page)
    screenshot(page, "1-refuse")

    page.get_by_label("Fichier CSV").set_input_files(str(good))
    page.get_by_role("button", name="Vérifier et importer").click()
    expect(page.locator("#import-result")).to_contain_text("L'import est terminé",
                                                           timeout=30000)
    expect(page.locator("#import-result")).to_contain_text("1 entité créée")
    pages.accessible(page)
    screenshot(page, "2-termine")
