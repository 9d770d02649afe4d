"""Authorization requests under way: the one-way interface between the pipeline and
the pages (node-oidc-provider's interactions).

The pipeline (`idp.oidc.authorization`) keeps the request it validated in an
`Interaction`, writes on it the `Prompt` it needs answered and sends the browser to the
page of that prompt (`PAGES`). The page reads the prompt, records the person's answer as
the interaction's *result* (`answer`) and sends the browser back to the pipeline
(`resume_url`), which checks the answer again. Pages never run the pipeline's steps;
the pipeline renders no page.

| prompt               | details (besides client_id, client_name)  | result recorded          |
| -------------------- | ----------------------------------------- | ------------------------ |
| `login`              | login_hint, session_refused                | (the login itself)       |
| `select_profile`     | profile_ids, domains, last_choice          | {"profile_id": 3}        |
| `consent`            | scopes                                     | {"scopes": [...]}        |
| `no_valid_right`     | domains, entity_ids                        | (none: `abandon`)        |
| `exclusive_conflict` | profile_ids, domains                       | (none: `abandon`)        |

A `login` prompt whose only reason is `STEP_UP` finds the right person signed in at too
low a level (`acr`): the login page then asks the second factor only.

Any page may record `abandon` ({"error": "access_denied", "description": ...}): the
person gave up, the client is told. An interaction lives in the short-lived store; its
uid is written in the browser's session, so another browser cannot use it.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import current_app, redirect, session, url_for
from werkzeug.wrappers import Response

from idp.web.session import current_login

LOGIN = "login"
SELECT_PROFILE = "select_profile"
CONSENT = "consent"
NO_VALID_RIGHT = "no_valid_right"
EXCLUSIVE_CONFLICT = "exclusive_conflict"
ABANDON = "abandon"
STEP_UP = "acr_too_low"  # the login's reason when only the second factor is missing

# The page that answers each prompt (the login page takes the uid as a query parameter).
PAGES = {
    LOGIN: "login.login",
    SELECT_PROFILE: "consent.choose_profile",
    CONSENT: "consent.consent",
    NO_VALID_RIGHT: "consent.no_valid_right",
    EXCLUSIVE_CONFLICT: "consent.exclusive_conflict",
}

EXPIRED = ("Cette demande de connexion a expiré ou a déjà été traitée. "
           "Retournez à l'application pour vous connecter à nouveau.")

INTERACTION_TTL = 30 * 60
_PREFIX = "authz:"
_SESSION_KEY = "interactions"  # kept by web.session.start_login: the login completes them
_MAX_PER_SESSION = 10


@dataclass
class Prompt:
    """What the pipeline needs the person to answer, and what the page needs to ask it."""

    name: str
    details: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # why (the login's named checks)
    account_id: int | None = None  # whom it asks (None: whoever signs in)


@dataclass
class Interaction:
    uid: str
    params: dict[str, str]  # the authorization request, as the client sent it
    prompt: Prompt | None = None
    result: dict[str, Any] = field(default_factory=dict)  # the answers, by prompt name
    notes: dict[str, Any] = field(default_factory=dict)  # the pipeline's own memory

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Interaction:
        prompt = data.get("prompt")
        return cls(**{**data, "prompt": Prompt(**prompt) if prompt else None})


def _store() -> Any:
    return current_app.extensions["idp.store"]


def new(params: dict[str, str]) -> Interaction:
    """A new interaction, stored only once it has something to ask (`save`)."""
    return Interaction(uid=secrets.token_urlsafe(16), params=params)


def save(interaction: Interaction) -> None:
    _store().put(_PREFIX + interaction.uid, asdict(interaction), INTERACTION_TTL)
    owned = session.get(_SESSION_KEY, [])
    if interaction.uid not in owned:
        session[_SESSION_KEY] = [*owned[-(_MAX_PER_SESSION - 1):], interaction.uid]


def load(uid: str) -> Interaction | None:
    """The interaction, if it exists and belongs to this browser."""
    if uid not in session.get(_SESSION_KEY, []):
        return None
    data = _store().get(_PREFIX + uid)
    # Written by the previous version of the provider (hosts are upgraded one by one): it
    # counts as expired, the person starts again from the application.
    if not data or "result" not in data:
        return None
    return Interaction.from_json(data)


def finish(uid: str) -> None:
    """Forget the interaction (answered, or ended by an error sent to the client)."""
    owned = session.get(_SESSION_KEY, [])
    if uid in owned:  # else never saved (nothing was asked), or no longer this browser's
        _store().delete(_PREFIX + uid)
        session[_SESSION_KEY] = [u for u in owned if u != uid]


def resume_url(uid: str) -> str:
    """Where a page sends the browser once it has recorded the answer."""
    return url_for("oidc.resume", uid=uid)


# --- the pipeline's side --------------------------------------------------------------


def ask(interaction: Interaction, prompt: Prompt) -> Response:
    """Write `prompt` on the interaction and send the browser to the page that asks it."""
    interaction.prompt = prompt
    save(interaction)
    endpoint = PAGES[prompt.name]
    if prompt.name == LOGIN:
        return redirect(url_for(endpoint, interaction=interaction.uid))
    return redirect(url_for(endpoint, uid=interaction.uid))


# --- the pages' side ------------------------------------------------------------------


def asked(interaction: Interaction, name: str) -> Prompt | None:
    """The prompt `name`, if the interaction asks it of the person signed in in this
    browser; if not, the page sends the browser back to the pipeline (`resume_url`),
    which knows what comes next."""
    login, prompt = current_login(), interaction.prompt
    if (prompt is None or prompt.name != name or login is None
            or prompt.account_id != login.account_id):
        return None
    return prompt


def answer(interaction: Interaction, name: str, value: dict[str, Any]) -> Response:
    """Record the person's answer and hand the request back to the pipeline."""
    interaction.result[name] = value
    save(interaction)
    return redirect(resume_url(interaction.uid))
