"""The kit's settings and per-application state (`kit()` inside a request)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from authlib.integrations.requests_client import OAuth2Session
from flask import current_app
from sqlalchemy.engine import Engine

from idp.rp.identity import Identity
from idp.rp.pairing import LocalAccount
from idp.rp.provider import Provider

EXTENSION_KEY = "plage_rp"

# Flask configuration keys of the kit and their defaults (None: required).
DEFAULTS: dict[str, Any] = {
    "PLAGE_ISSUER": None,  # the provider's URL, as in its discovery document
    "PLAGE_CLIENT_ID": None,
    "PLAGE_CLIENT_SECRET": None,  # None for a public client (PKCE only)
    "PLAGE_TOKEN_AUTH_METHOD": "client_secret_basic",  # or client_secret_post, none
    "PLAGE_SCOPE": "openid profile email habilitations",
    "PLAGE_APP_NAME": None,  # shown on the pages; default: the Flask app's name
    "PLAGE_DATABASE_URL": None,  # where the kit's tables live, unless an engine is given
    "PLAGE_SESSION_LIFETIME": 8 * 3600,  # seconds of inactivity before a session expires
    "PLAGE_LEEWAY": 60,  # seconds of clock skew accepted on token times
    "PLAGE_ALGORITHMS": ("RS256", "ES256"),
    "PLAGE_URL_PREFIX": "/plage",
    "PLAGE_HOME": "/",  # where a login lands without a page to go back to
    "PLAGE_ALWAYS_CHOOSE_ACCOUNT": False,  # show the chooser even for one local account
    "PLAGE_SUPPORT_LABEL": "Administrateur de l'application",
    "PLAGE_SUPPORT_EMAIL": None,  # the contact when pairing is impossible
    "PLAGE_ACCOUNT_URL": None,  # PLAGE's "Mon compte"; default: <issuer>/compte/
    "PLAGE_ROLE_LABELS": {},  # role code -> label for messages ("Gestionnaire")
    "PLAGE_HTTP_TIMEOUT": 5.0,
    "PLAGE_UNKNOWN_KID_INTERVAL": 10.0,  # seconds between two JWKS refetches on unknown kid
    "PLAGE_REFRESH_MARGIN": 30,  # refresh the access token this many seconds before exp
}

AccountFinder = Callable[[Identity], Sequence[LocalAccount]]
AccountLoader = Callable[[str], LocalAccount | None]


@dataclass
class Hooks:
    """How the application finds and shows its local accounts (pairing is on when both
    are set)."""

    find_accounts: AccountFinder | None = None
    load_account: AccountLoader | None = None


@dataclass
class KitState:
    """What the kit keeps for one application."""

    config: Mapping[str, Any]
    engine: Engine
    provider: Provider
    hooks: Hooks

    def setting(self, name: str) -> Any:
        return self.config[f"PLAGE_{name}"]

    @property
    def client_id(self) -> str:
        return str(self.setting("CLIENT_ID"))

    @property
    def app_name(self) -> str:
        return str(self.setting("APP_NAME"))

    @property
    def pairing_enabled(self) -> bool:
        return self.hooks.find_accounts is not None and self.hooks.load_account is not None

    def local_account(self, key: str) -> LocalAccount | None:
        assert self.hooks.load_account is not None
        return self.hooks.load_account(key)

    @property
    def account_url(self) -> str:
        return self.setting("ACCOUNT_URL") or f"{self.provider.issuer.rstrip('/')}/compte/"

    def oauth(self, **kwargs: Any) -> OAuth2Session:
        """Authlib's client for the authorization and token requests."""
        return OAuth2Session(
            self.client_id, self.setting("CLIENT_SECRET"),
            token_endpoint_auth_method=self.setting("TOKEN_AUTH_METHOD"),
            code_challenge_method="S256", default_timeout=self.setting("HTTP_TIMEOUT"),
            **kwargs,
        )


def kit() -> KitState:
    """The kit's state for the current application."""
    return current_app.extensions[EXTENSION_KEY]
