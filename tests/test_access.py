"""The web kernel's view of who is signed in: an account that is no longer active
(closed, merged into another) loses its open sessions' pages at once."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from idp.directory import services
from idp.directory.enums import AccountState
from idp.extensions import db
from tests.support import directory as d
from tests.support.web import sign_in


def test_a_closed_account_loses_its_open_session(make_app: Callable[..., Flask],
                                                  sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    with app.app_context():
        identifier = d.ancre_world().person.identifier
    browser = app.test_client()
    assert sign_in(browser, identifier).status_code == 302
    assert browser.get("/compte/").status_code == 200

    with app.app_context():
        services.get_account(identifier).state = AccountState.INACTIVE
        db.session.commit()

    answer = browser.get("/compte/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/connexion")
