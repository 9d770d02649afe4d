"""Whether the person signed in may answer the request, or must sign in (again).

Each reason to show the login page is a named check, as in node-oidc-provider; the ones
that fire are written on the `login` prompt as its reasons. A login the request turned
down is remembered by its `sid` (`refused_session`), not by its time: auth_time counts
seconds, and a login made in the same second as the refused one must not pass for a
new one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from authlib.oidc.core.errors import LoginRequiredError
from werkzeug.wrappers import Response

from idp.directory.models import Account
from idp.extensions import db
from idp.oidc.authorization import assurance
from idp.oidc.authorization.flow import Flow, fail
from idp.web.access import active_login, current_account
from idp.web.interactions import LOGIN, STEP_UP
from idp.web.session import LoginState

REFUSED_SID = "refused_sid"  # notes: the login this request turned down
LOGIN_ASKED = "login_asked"  # notes: the login page was shown for this request


def no_session(flow: Flow, login: LoginState | None) -> bool:
    """Nobody is signed in in this browser (a login whose account is no longer active,
    closed or merged into another, counts as none: see `require_login`)."""
    return login is None


def refused_session(flow: Flow, login: LoginState | None) -> bool:
    """The login is the one this request already turned down: only a new one will do."""
    return login is not None and login.sid == flow.notes.get(REFUSED_SID)


def prompt_login(flow: Flow, login: LoginState | None) -> bool:
    """prompt=login, or max_age=0 which means the same (OIDC Core 3.1.2.1, errata set 2):
    the login the request finds does not count."""
    return (login is not None and flow.arriving
            and ("login" in flow.prompts or flow.max_age == 0))


def max_age(flow: Flow, login: LoginState | None) -> bool:
    """The login the request finds is older than max_age (judged once, on arrival: the
    time the person then spends on our pages does not count)."""
    return (login is not None and flow.arriving and flow.max_age is not None
            and int(time.time()) - login.auth_time > flow.max_age)


def id_token_hint(flow: Flow, login: LoginState | None) -> bool:
    """The person signed in is not the one the id_token_hint names. Once the login page
    has been shown for this request, whoever signs in there answers it."""
    if login is None or flow.hint_subject is None or flow.notes.get(LOGIN_ASKED):
        return False
    account = db.session.get(Account, login.account_id)
    return account is None or account.identifier != flow.hint_subject


LOGIN_CHECKS: dict[str, Callable[[Flow, LoginState | None], bool]] = {
    "no_session": no_session,
    "refused_session": refused_session,
    "prompt_login": prompt_login,
    "max_age": max_age,
    "id_token_hint": id_token_hint,
    STEP_UP: assurance.acr_too_low,  # signed in, but below the level asked: step up
}


def login_reasons(flow: Flow, login: LoginState | None) -> list[str]:
    """The names of the checks that want the login page; none: the login may answer."""
    return [name for name, check in LOGIN_CHECKS.items() if check(flow, login)]


def require_login(flow: Flow) -> Response | None:
    """Someone signed in, recently enough, and the one the client expects."""
    login = active_login()
    reasons = login_reasons(flow, login)
    if not reasons:
        assert login is not None
        flow.login = login
        flow.account = current_account()
        return None
    if "none" in flow.prompts:
        raise fail(LoginRequiredError, "The end-user must sign in.")
    if login is not None and reasons != [STEP_UP]:
        # (A login below the level asked is not refused: the step-up makes a new one.)
        flow.notes[REFUSED_SID] = login.sid
    flow.notes[LOGIN_ASKED] = True
    return flow.ask(LOGIN, reasons=reasons, details={
        "login_hint": flow.params.get("login_hint") or flow.hint_subject,
        # Someone is signed in, but not as this request needs: show the page all the same.
        "session_refused": login is not None,
    })
