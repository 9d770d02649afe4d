"""What can go wrong when a relying application talks to PLAGE."""

from __future__ import annotations


class RelyingPartyError(Exception):
    """Base class of the kit's errors."""


class ProviderUnavailable(RelyingPartyError):
    """The provider's discovery document or keys cannot be fetched (and none is cached)."""


class InvalidToken(RelyingPartyError):
    """A token fails validation; str(exc) says which check, for logs (never for users)."""


class UnknownKey(InvalidToken):
    """The token names a key (`kid`) the provider does not publish, even after a refetch."""


class LoginFailed(RelyingPartyError):
    """The authorization response or the token exchange went wrong.

    `error` is the OAuth error code (``access_denied``, ``invalid_grant``...) or one of
    the kit's own (``invalid_state``, ``invalid_token``, ``provider_unavailable``).
    """

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


class PairingConflict(RelyingPartyError):
    """A local account is already paired with another PLAGE identifier."""
