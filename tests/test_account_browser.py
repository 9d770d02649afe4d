"""Training case 6 in headless Chromium: a person whose address changed updates it from
Mon compte › Mes informations personnelles, confirms it from the link mailed to the new
address, then merges the second account he had been given on his OG, and reads the
result on a phone-sized screen."""

from __future__ import annotations

from typing import Any

from idp.outbox import service as outbox
from tests.support import directory as d
from tests.support.services import SmtpSink
from tests.test_account_pages import NEW_ADDRESS, build, link_code, mailing
from tests.test_requests_browser import sign_in


def test_a_person_changes_his_email_and_merges_his_second_account(
        make_app: Any, sqlite_url: str, smtp_sink: SmtpSink, live_server: Any,
        browser: Any, screenshot: Any) -> None:
    world = build(mailing(make_app, sqlite_url, smtp_sink))
    base = live_server(world.app)
    page = browser.new_context(locale="fr-FR").new_page()
    page.set_default_timeout(15000)

    sign_in(page, base, world.person, d.PASSWORD)
    page.goto(base + "/compte/")
    page.click("nav.tabs >> text=Mes informations personnelles")
    page.fill("#current", d.PASSWORD)
    page.fill("#email", NEW_ADDRESS)
    page.fill("#confirm", NEW_ADDRESS)
    screenshot(page, "1-new-address")
    page.click("text=Changer d'adresse")
    page.wait_for_selector(f"text=Un courriel vient d'être envoyé à {NEW_ADDRESS}")
    screenshot(page, "2-link-sent")
    outbox.wait_idle()

    # The link from the mail: its code rides after '#', the page's script posts it.
    page.goto(f"{base}/compte/courriel/confirmer#{link_code(smtp_sink, NEW_ADDRESS)}")
    page.wait_for_selector(f"text=Votre adresse électronique est désormais {NEW_ADDRESS}")
    assert "#" not in page.url
    screenshot(page, "3-address-changed")
    outbox.wait_idle()
    assert any(m["To"] == world.email for m in smtp_sink.received())  # the old one told

    page.click("nav.tabs >> text=Regroupement de compte")
    page.fill("#identifier", world.second)
    page.fill("#password", d.PASSWORD)
    screenshot(page, "4-second-account")
    page.click("text=Se connecter au second compte")
    page.wait_for_selector("text=Confirmer le regroupement de compte")
    screenshot(page, "5-confirm-merge")
    page.click("button:has-text('Confirmer le regroupement')")
    page.wait_for_selector("text=Les comptes sont regroupés")
    assert "Direction OG" in page.inner_text("table")
    screenshot(page, "6-merged")

    page.set_viewport_size({"width": 375, "height": 740})
    page.reload()
    # On a phone the table scrolls within its frame, the page itself does not.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, "7-small-screen")
    page.context.close()


def test_the_email_link_opened_on_a_phone_not_signed_in(
        make_app: Any, sqlite_url: str, smtp_sink: SmtpSink, live_server: Any,
        browser: Any, screenshot: Any) -> None:
    """The change asked on the office computer, the mail read on a phone: the link's page
    asks the account's password there, and the address changes."""
    world = build(mailing(make_app, sqlite_url, smtp_sink))
    base = live_server(world.app)
    office = browser.new_context(locale="fr-FR").new_page()
    sign_in(office, base, world.person, d.PASSWORD)
    office.goto(base + "/compte/informations")
    office.fill("#current", d.PASSWORD)
    office.fill("#email", NEW_ADDRESS)
    office.fill("#confirm", NEW_ADDRESS)
    office.click("text=Changer d'adresse")
    office.wait_for_selector(f"text=Un courriel vient d'être envoyé à {NEW_ADDRESS}")
    office.context.close()
    outbox.wait_idle()

    phone = browser.new_context(locale="fr-FR", viewport={"width": 360, "height": 740}
                                ).new_page()
    phone.goto(f"{base}/compte/courriel/confirmer#{link_code(smtp_sink, NEW_ADDRESS)}")
    phone.wait_for_selector(f"text=pour le compte Plage {world.person}")
    assert "#" not in phone.url
    screenshot(phone, "1-password-asked")
    phone.get_by_label("Mot de passe").fill(d.PASSWORD)
    phone.click("button:has-text(\"Confirmer l'adresse\")")
    phone.wait_for_selector(f"text=Votre adresse électronique est désormais {NEW_ADDRESS}")
    assert phone.locator("#identifier").count() == 1  # the login page: not signed in
    screenshot(phone, "2-address-changed")
    phone.context.close()
    outbox.wait_idle()
    assert any(m["To"] == world.email for m in smtp_sink.received())  # the old one told
