"""What the provider supports of OpenID Connect and OAuth 2, in one place.

Discovery publishes these lists, client registration (`idp.clients.service`) accepts
only these values, the token server (`idp.oidc.server`) and the authorization pipeline
(`idp.oidc.authorization`) enforce them: what we announce is what we do.
"""

from __future__ import annotations

from idp.claims import SCOPE_CLAIMS
from idp.keys.service import DEFAULT_ALGORITHM, SUPPORTED_ALGORITHMS
from idp.web.session import ACR_LADDER

# --- client authentication (token, introspection and revocation endpoints) ------------

PUBLIC_AUTH_METHOD = "none"  # public clients have no credentials: PKCE protects their codes
PRIVATE_KEY_JWT = "private_key_jwt"
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
CONFIDENTIAL_AUTH_METHODS = (*SECRET_AUTH_METHODS, PRIVATE_KEY_JWT)
TOKEN_AUTH_METHODS = (*CONFIDENTIAL_AUTH_METHODS, PUBLIC_AUTH_METHOD)
DEFAULT_CONFIDENTIAL_AUTH_METHOD = "client_secret_basic"

# --- grants and the authorization request ---------------------------------------------

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 (a grant type, not a secret)
CLIENT_CREDENTIALS = "client_credentials"
GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS)
DEFAULT_GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN)

RESPONSE_TYPES = ("code",)  # the code flow only: no token ever travels in a URL
RESPONSE_MODES = ("query", "form_post")
DEFAULT_RESPONSE_MODE = "query"
PROMPTS = ("none", "login", "consent", "select_account")
# eidas1: the password; eidas2: the password and a second factor (idp.web.session).
ACR_VALUES = ACR_LADDER
CODE_CHALLENGE_METHODS = ("S256",)  # "plain" protects nothing (RFC 9700 §2.1.1)

# --- scopes and claims ----------------------------------------------------------------

# The claims contract (idp.claims) names the scopes that release claims.
SCOPES = ("openid", *SCOPE_CLAIMS, "offline_access")
PROTOCOL_CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr",
                   "sid", "at_hash")
CLAIMS_SUPPORTED = (*PROTOCOL_CLAIMS, *(c for names in SCOPE_CLAIMS.values() for c in names))

# --- signatures -----------------------------------------------------------------------

# The signing keys decide: we sign with the algorithms we hold keys for (idp.keys).
SIGNING_ALGORITHMS = SUPPORTED_ALGORITHMS
DEFAULT_SIGNING_ALGORITHM = DEFAULT_ALGORITHM
# What a newly registered client's ID tokens (and logout tokens) are signed with unless
# it asks otherwise: ES256 costs the provider about a tenth of an RS256 signature, and
# the relying side's libraries verify it (the PLAGE kit does); RS256 stays available for
# those that do not. Clients registered before keep what they hold.
NEW_CLIENT_SIGNING_ALGORITHM = "ES256"
# Access tokens (RFC 9068) are read by resource servers we do not know: the default
# algorithm, the one every JOSE library supports.
ACCESS_TOKEN_ALGORITHM = DEFAULT_SIGNING_ALGORITHM
