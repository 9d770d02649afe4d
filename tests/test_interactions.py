"""The authorization pipeline and the pages talk through interactions only: the pipeline
writes the prompt it needs answered (and why), the page records the person's answer,
the pipeline checks that answer again when it resumes.

The named login checks are plain functions, tested here on their own; the rest is driven
from outside like tests/test_oidc_flows.py.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urljoin, urlsplit

from idp.extensions import db
from idp.oidc.authorization.flow import Flow
from idp.oidc.authorization.login import LOGIN_ASKED, REFUSED_SID, login_reasons
from idp.web.interactions import Interaction
from idp.web.session import LoginState
from tests.support.oidc import Arrival, Browser, Page, Scene, register

# --- the named login checks -----------------------------------------------------------


def flow(arriving: bool = True, hint: str | None = None, **params: str) -> Flow:
    return Flow(interaction=Interaction(uid="u", params=params), oauth_request=None,
                arriving=arriving, hint_subject=hint)  # type: ignore[arg-type]


def signed_in(sid: str = "sid-1", seconds_ago: int = 0) -> LoginState:
    return LoginState(account_id=1, auth_time=int(time.time()) - seconds_ago, amr=["pwd"],
                      acr="eidas1", sid=sid)


def test_nobody_signed_in_is_the_no_session_reason() -> None:
    assert login_reasons(flow(), None) == ["no_session"]
    assert login_reasons(flow(prompt="login", max_age="0"), None) == ["no_session"]


def test_a_recent_login_answers_a_plain_request() -> None:
    assert login_reasons(flow(), signed_in()) == []
    assert login_reasons(flow(max_age="3600"), signed_in(seconds_ago=60)) == []


def test_prompt_login_and_max_age_zero_refuse_the_login_the_request_finds() -> None:
    assert login_reasons(flow(prompt="login"), signed_in()) == ["prompt_login"]
    # (max_age itself fires too once the clock has ticked since the login.)
    assert "prompt_login" in login_reasons(flow(max_age="0"), signed_in())
    assert login_reasons(flow(max_age="60"), signed_in(seconds_ago=61)) == ["max_age"]


def test_max_age_is_judged_when_the_request_arrives_not_while_the_person_reads_our_pages(
) -> None:
    """Signed in 50 s before a max_age=60 request: 20 s spent choosing a profile do not
    send the person back to the login page."""
    assert login_reasons(flow(arriving=False, max_age="60"), signed_in(seconds_ago=70)) == []


def test_a_refused_login_never_passes_for_a_new_one_even_within_the_same_second() -> None:
    refused = flow(arriving=False, prompt="login")
    refused.notes[REFUSED_SID] = "sid-1"
    # The same session comes back without signing in again: still refused.
    assert login_reasons(refused, signed_in("sid-1")) == ["refused_session"]
    # A new login, made in the very second of the refused one (auth_time is equal): it
    # has its own sid, and it answers the request.
    assert login_reasons(refused, signed_in("sid-2")) == []


def test_an_id_token_hint_for_someone_else_wants_the_login_page_once() -> None:
    asked = flow(hint="someone-else")
    asked.notes[LOGIN_ASKED] = True
    # Once the login page was shown for the request, whoever signs in there answers it
    # (the check needs no database then).
    assert login_reasons(asked, signed_in("sid-2")) == []


# --- the pages record answers, the pipeline checks them -------------------------------


def uid_of(url: str) -> str:
    """The interaction of a page: in the login page's query, in the other pages' path."""
    parts = urlsplit(url)
    if parts.path == "/connexion":
        return parse_qs(parts.query)["interaction"][0]
    return parts.path.split("/")[2]


def test_the_login_page_names_the_application_from_the_prompt(sqlite: Scene) -> None:
    rp = register(sqlite.op, name="ANCRE Bourgogne")
    browser = Browser(sqlite.op)
    page = browser.open(rp.begin().url)
    assert isinstance(page, Page) and page.kind == "login"
    assert "pour accéder à <strong>ANCRE Bourgogne</strong>" in page.text
    failed = browser.login(page, "000000", "mauvais-mot-de-passe")
    assert isinstance(failed, Page) and failed.status == 401
    assert "pour accéder à <strong>ANCRE Bourgogne</strong>" in failed.text


def test_a_signed_in_person_sent_back_to_a_refused_login_sees_the_login_page_again(
        sqlite: Scene) -> None:
    rp = register(sqlite.op)
    browser = Browser(sqlite.op)
    rp.login(browser, sqlite.people.person, profile=sqlite.people.profile_x)
    request = rp.begin(prompt="login")
    page = browser.open(request.url)
    assert isinstance(page, Page) and page.kind == "login"

    # Back to the pipeline without signing in: the refused session does not answer.
    again = browser.open(f"{sqlite.op.issuer}/authorize/resume/{uid_of(page.url)}")
    assert isinstance(again, Page) and again.kind == "login"
    arrival = browser.authorize(request.url, sqlite.people.person,
                                profile=sqlite.people.profile_x)
    assert isinstance(arrival, Arrival) and "code" in arrival.params


def test_a_profile_not_offered_is_not_recorded(sqlite: Scene) -> None:
    rp = register(sqlite.op)
    browser = Browser(sqlite.op)
    page = browser.authorize(rp.begin().url, sqlite.people.person, stop_at="profile_choice")
    assert isinstance(page, Page) and page.kind == "profile_choice"
    someone_elses = browser.submit(page, form_index=page.form_with("profile"),
                                   profile="999999")
    assert isinstance(someone_elses, Page) and someone_elses.status == 400
    assert "Veuillez choisir l'un des profils proposés." in someone_elses.text


def test_a_profile_chosen_then_withdrawn_before_the_pipeline_resumes_is_not_used(
        sqlite: Scene) -> None:
    """Julie chooses her Lecteur profile; its role is withdrawn before the pipeline reads
    her answer: the pipeline checks the answer again and uses her other profile."""
    op = sqlite.op

    def julie() -> tuple[str, int, int]:
        from idp.directory.models import Entity
        from tests.support import directory

        def entity(name: str) -> Entity:
            return db.session.scalar(db.select(Entity).filter_by(name=name))

        account = directory.account("Julie", "Perrin")
        keeps = directory.profile(account, entity("EHPAD Les Tilleuls"), "Tilleuls",
                                  "ANCRE/GESTIONNAIRE_FICHIERS")
        loses = directory.profile(account, entity("EHPAD Le Verger"), "Verger",
                                  "ANCRE/LECTEUR")
        db.session.commit()
        return account.identifier, keeps.id, loses.id

    identifier, keeps, loses = op.run(julie)
    rp = register(op)
    browser = Browser(op)
    request = rp.begin()
    page = browser.authorize(request.url, identifier, stop_at="profile_choice")
    assert isinstance(page, Page) and page.kind == "profile_choice"
    form = page.forms[page.form_with("profile")]
    answered = browser.http.post(page.url, data={**form.fields, "profile": str(loses)},
                                 allow_redirects=False, timeout=10)
    assert answered.status_code == 302
    resume = urljoin(page.url, answered.headers["Location"])
    assert urlsplit(resume).path == f"/authorize/resume/{uid_of(page.url)}"

    def withdraw() -> None:
        from idp.core.audit import Actor
        from idp.directory import services

        services.revoke(services.get_profile(loses), services.get_role("ANCRE", "LECTEUR"),
                        Actor(label="APE"))
        db.session.commit()

    op.run(withdraw)
    tokens = rp.exchange(request, rp.code_from(request, browser.open(resume)))
    assert tokens.id_claims["profile"]["id"] == str(keeps)
