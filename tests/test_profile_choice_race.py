"""Two first logins of one person to one client at once (two tabs, a double click)
both remember the profile chosen: neither ends in a server error."""

from __future__ import annotations

import threading

from flask import Flask

from idp.consent import service as consent
from idp.directory.enums import EntityType
from idp.extensions import db
from tests.support import directory
from tests.test_token_paths import ready


def test_two_first_choices_at_once_both_succeed_and_the_last_one_stays(app: Flask) -> None:
    ready(app)
    person = directory.account("Deux", "Onglets")
    entity = directory.entity("E-TABS", EntityType.NAT, "Essai")
    first = directory.profile(person, entity, "Premier", "ANCRE/LECTEUR")
    second = directory.profile(person, entity, "Second", "ANCRE/LECTEUR")
    rp, _ = directory.client("Appli", ["ANCRE"], ["https://rp.test/cb"])
    db.session.commit()
    ids = (person.id, rp.client_id)

    # The first tab writes its choice and has not committed yet when the second writes.
    consent.remember_profile_choice(*ids, first.id)
    db.session.flush()
    failures: list[BaseException] = []

    def second_tab() -> None:
        with app.app_context():
            try:
                consent.remember_profile_choice(*ids, second.id)
                db.session.commit()  # waits for the first tab's row (PostgreSQL's lock,
            except BaseException as error:  # SQLite's busy_timeout)
                failures.append(error)

    tab = threading.Thread(target=second_tab)
    tab.start()
    tab.join(0.3)  # let it reach the database and wait there
    db.session.commit()
    tab.join(10)
    assert not tab.is_alive() and failures == []
    db.session.expire_all()
    assert consent.last_profile_choice(*ids) == second.id

    consent.remember_profile_choice(*ids, second.id)  # unchanged: nothing to write
    db.session.commit()
    assert consent.last_profile_choice(*ids) == second.id
