"""The profile whose entity and roles the tokens will carry (design.md, "Login with a
profile"): the rule `rules.profiles_for_client` decides which ones may be used."""

from __future__ import annotations

from authlib.oidc.core.errors import AccountSelectionRequiredError
from werkzeug.wrappers import Response

from idp.consent import service as consent
from idp.directory import services
from idp.oidc.authorization.flow import Flow, fail
from idp.web.interactions import EXCLUSIVE_CONFLICT, NO_VALID_RIGHT, SELECT_PROFILE


def select_profile(flow: Flow) -> Response | None:
    """None usable: a page says why. One: chosen silently unless prompt=select_account.
    Several: the person chooses (the last choice for this client pre-selected)."""
    assert flow.client is not None and flow.account is not None
    domains = list(flow.client.domains)
    sorted_out = services.profiles_for_client(flow.account, domains)
    if not sorted_out.usable:
        if sorted_out.conflicted:
            return flow.ask(EXCLUSIVE_CONFLICT, {
                "profile_ids": [p.id for p in sorted_out.conflicted], "domains": domains})
        # Whom to ask for a role: the administrators of every entity the person belongs to.
        entities = dict.fromkeys(p.entity_id for p in flow.account.profiles)
        return flow.ask(NO_VALID_RIGHT, {"domains": domains, "entity_ids": list(entities)})
    usable = {p.id: p for p in sorted_out.usable}
    chosen = (flow.result(SELECT_PROFILE) or {}).get("profile_id")
    if chosen in usable:  # checked again: the profile may have lost its rights since
        flow.profile = usable[chosen]
        return None
    last = consent.last_profile_choice(flow.account.id, flow.client.client_id)
    if "none" in flow.prompts:
        if len(usable) == 1:
            flow.profile = sorted_out.usable[0]
        elif last in usable:
            flow.profile = usable[last]
        else:
            raise fail(AccountSelectionRequiredError, "The end-user must choose a profile.")
        return None
    if len(usable) == 1 and "select_account" not in flow.prompts:
        flow.profile = sorted_out.usable[0]
        return None
    return flow.ask(SELECT_PROFILE, {"profile_ids": list(usable), "domains": domains,
                                     "last_choice": last})
