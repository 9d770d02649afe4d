"""OpenID Provider metadata: what we really support (idp.oidc.capabilities), nothing else."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from idp.oidc import capabilities
from idp.oidc.documents import Document

_HELD = "idp.discovery"
MAX_AGE = 3600


def metadata() -> dict[str, Any]:
    base = current_app.config["IDP"]["server"]["issuer"]
    algorithms = list(capabilities.SIGNING_ALGORITHMS)
    confidential = list(capabilities.CONFIDENTIAL_AUTH_METHODS)
    data: dict[str, Any] = {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks",
        "introspection_endpoint": f"{base}/introspect",
        "revocation_endpoint": f"{base}/revoke",
        "scopes_supported": list(capabilities.SCOPES),
        "response_types_supported": list(capabilities.RESPONSE_TYPES),
        "response_modes_supported": list(capabilities.RESPONSE_MODES),
        "grant_types_supported": list(capabilities.GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "userinfo_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_methods_supported": list(capabilities.TOKEN_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": algorithms,
        # Public clients have nothing to introspect or revoke with.
        "introspection_endpoint_auth_methods_supported": confidential,
        "revocation_endpoint_auth_methods_supported": confidential,
        "code_challenge_methods_supported": list(capabilities.CODE_CHALLENGE_METHODS),
        "claims_supported": list(capabilities.CLAIMS_SUPPORTED),
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "acr_values_supported": list(capabilities.ACR_VALUES),
        "prompt_values_supported": list(capabilities.PROMPTS),
        "ui_locales_supported": ["fr-FR"],
        "claims_locales_supported": ["fr-FR"],
        "authorization_response_iss_parameter_supported": True,
    }
    if "oidc.end_session" in current_app.view_functions:
        data.update({
            "end_session_endpoint": f"{base}/logout",
            "frontchannel_logout_supported": False,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
        })
    return data


def document() -> Document:
    """The metadata, serialized once per app (it changes only with the configuration)."""
    extensions = current_app.extensions
    if _HELD not in extensions:
        extensions[_HELD] = Document.of(metadata(), MAX_AGE)
    return extensions[_HELD]


def held_document(app: Flask) -> Document | None:
    return app.extensions.get(_HELD)
