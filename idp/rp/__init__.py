"""The relying-party kit: sign in with PLAGE from a Flask application, or validate its
access tokens in any Python API.

It talks to the provider over HTTP only (discovery, JWKS, token endpoint) and imports
nothing of the provider's code: an application installs it on its own. See
docs/relying-party-kit.md.
"""

from idp.rp.access import login_required, require
from idp.rp.errors import (
    InvalidToken,
    LoginFailed,
    PairingConflict,
    ProviderUnavailable,
    RelyingPartyError,
    UnknownKey,
)
from idp.rp.extension import PlageRP
from idp.rp.flow import csrf_token, csrf_valid, current_identity, current_local_account
from idp.rp.identity import ENTITY_TYPE_LABELS, Identity, Requirement
from idp.rp.pairing import LocalAccount, Pairing, list_pairings, pair, unpair
from idp.rp.provider import Provider, provider_for
from idp.rp.tokens import validate_access_token, validate_id_token, validate_logout_token

__all__ = [
    "ENTITY_TYPE_LABELS",
    "Identity",
    "InvalidToken",
    "LocalAccount",
    "LoginFailed",
    "Pairing",
    "PairingConflict",
    "PlageRP",
    "Provider",
    "ProviderUnavailable",
    "RelyingPartyError",
    "Requirement",
    "UnknownKey",
    "csrf_token",
    "csrf_valid",
    "current_identity",
    "current_local_account",
    "list_pairings",
    "login_required",
    "pair",
    "provider_for",
    "require",
    "unpair",
    "validate_access_token",
    "validate_id_token",
    "validate_logout_token",
]
