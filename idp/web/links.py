"""Single-use links sent by mail (password reset, first password of a new account).

The token travels only in the mail; the short-lived store keeps its SHA-256 under the
link's purpose, with an expiry, so a copy of the store yields no usable link. `take`
pops the entry: of two concurrent uses, one succeeds.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from idp.store import ShortLivedStore

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


@dataclass(frozen=True)
class MailLinks:
    store: ShortLivedStore
    purpose: str

    def _key(self, token: str) -> str | None:
        if not _TOKEN.fullmatch(token):
            return None
        return f"{self.purpose}:{hashlib.sha256(token.encode()).hexdigest()}"

    def issue(self, data: dict[str, Any], ttl: int) -> str:
        """A new token carrying `data` for `ttl` seconds."""
        token = secrets.token_urlsafe(32)
        key = self._key(token)
        assert key is not None
        self.store.put(key, data, ttl)
        return token

    def peek(self, token: str) -> dict[str, Any] | None:
        """The data of a live token, leaving it usable; None if unknown, expired or used."""
        key = self._key(token)
        return self.store.get(key) if key else None

    def take(self, token: str) -> dict[str, Any] | None:
        """The data of a live token, which this call uses up."""
        key = self._key(token)
        return self.store.pop(key) if key else None
