"""The profile whose entity and roles the tokens will carry (design.md, "Login with a
profile"): the rule `rules.profiles_for_client` decides which ones may be used."""

from __future__ import annotations

from authlib.oidc.core.errors import AccountSelectionRequiredError, InteractionRequiredError
from werkzeug.wrappers import Response

from idp.consent import service as consent
from idp.oidc import subjects
from idp.oidc.authorization.flow import Flow, fail
from idp.web.interactions import EXCLUSIVE_CONFLICT, NO_VALID_RIGHT, SELECT_PROFILE


def select_profile(flow: Flow) -> Response | None:
    """None usable: a page says why. One: chosen silently unless prompt=select_account.
    Several: the person chooses (the last choice for this client pre-selected), unless
    the client comes back in the same provider session (`silent_choice`)."""
    assert flow.client is not None and flow.account is not None
    domains = list(flow.client.domains)
    sorted_out = subjects.profiles_for_client(flow.account, domains)
    if not sorted_out.usable:
        if "none" in flow.prompts:
            # The pages below explain, then end in access_denied: the person must see
            # them, which the client forbade (OIDC Core 3.1.2.6).
            raise fail(InteractionRequiredError, "The end-user has no usable profile "
                                                 "for this client: a page must explain why.")
        if sorted_out.conflicted:
            return flow.ask(EXCLUSIVE_CONFLICT, {
                "profile_ids": list(sorted_out.conflicted), "domains": domains})
        # Whom to ask for a role: the administrators of every entity the person belongs to.
        entities = dict.fromkeys(p.entity_id for p in flow.account.profiles)
        return flow.ask(NO_VALID_RIGHT, {"domains": domains, "entity_ids": list(entities)})
    usable = sorted_out.usable
    chosen = (flow.result(SELECT_PROFILE) or {}).get("profile_id")
    if chosen in usable:  # checked again: the profile may have lost its rights since
        flow.profile_id = chosen
        return None
    last = flow.remembered_profile_id = consent.last_profile_choice(
        flow.account.id, flow.client.client_id)
    flow.profile_id = silent_choice(flow, usable, last)
    if flow.profile_id is not None:
        return None
    if "none" in flow.prompts:
        raise fail(AccountSelectionRequiredError, "The end-user must choose a profile.")
    return flow.ask(SELECT_PROFILE, {"profile_ids": list(usable), "domains": domains,
                                     "last_choice": last})


def silent_choice(flow: Flow, usable: tuple[int, ...], last: int | None) -> int | None:
    """The profile to use without asking: the only usable one; the last one chosen for
    this client when it comes back within the same provider session (it received tokens
    since the person signed in) or may not show a page (prompt=none). A new login asks
    again; prompt=select_account always asks."""
    assert flow.client is not None and flow.login is not None
    if "select_account" in flow.prompts:
        return None
    if len(usable) == 1:
        return usable[0]
    returning = flow.client.client_id in flow.login.clients or "none" in flow.prompts
    return last if returning and last in usable else None
