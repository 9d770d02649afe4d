"""The person's consent to share their information with a third-party client.

The consent page records the decision in the consent records (`idp.consent.service`)
and answers the prompt with the scopes agreed to; prompt=consent asks again even when
the records cover the request.
"""

from __future__ import annotations

from authlib.oidc.core.errors import ConsentRequiredError
from werkzeug.wrappers import Response

from idp.claims import requested_claim_names, scopes_of_claims
from idp.consent import service as consent
from idp.oidc.authorization.flow import Flow, fail
from idp.web.interactions import CONSENT


def scopes_to_consent(flow: Flow) -> list[str]:
    """What the person agrees to share: the scopes granted, and the scopes of the
    claims the `claims` parameter asks for one by one (they are released too)."""
    assert flow.client is not None
    asked = {name for target in ("id_token", "userinfo")
             for name in requested_claim_names(flow.claims_request, target)}
    implied = scopes_of_claims(asked, flow.client.allowed_scopes)
    return consent.scopes_needing_consent([*flow.scopes, *implied])


def require_consent(flow: Flow) -> Response | None:
    assert flow.client is not None and flow.account is not None
    if flow.client.first_party:
        return None
    wanted = scopes_to_consent(flow)
    if "consent" not in flow.prompts and consent.covers(
            flow.account.id, flow.client.client_id, wanted):
        return None
    agreed = flow.result(CONSENT)
    if agreed is not None and set(wanted) <= set(agreed["scopes"]):
        return None  # agreed to on the consent page during this request
    if "none" in flow.prompts:
        raise fail(ConsentRequiredError, "The end-user must consent.")
    return flow.ask(CONSENT, {"scopes": wanted})
