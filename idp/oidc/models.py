"""What the provider remembers of the tokens it issued.

A `Grant` is one authorization of a client by a person with a selected profile: the code
exchange creates it, every refresh token of its rotation chain belongs to it, and access
tokens carry its id (`grant_id`), so revoking the grant revokes them all. The selected
profile lives here — per client and per refresh family — and never in the browser's SSO
session: signing in to app B with another profile leaves app A's profile untouched.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.core.clock import utcnow
from idp.directory.models import Account, Profile
from idp.extensions import UTCDateTime, db


class Grant(db.Model):
    __tablename__ = "grants"
    # A profile's last sign-in to an application (Revue des habilitations).
    __table_args__ = (Index("ix_grants_profile_created", "profile_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("profiles.id"))
    scope: Mapped[str] = mapped_column(Text, default="")
    # The provider session (OIDC `sid`) the grant was made in; logout revokes by it.
    sid: Mapped[str | None] = mapped_column(String(64), index=True)
    auth_time: Mapped[int | None] = mapped_column(Integer)
    acr: Mapped[str | None] = mapped_column(String(64))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    claims_request: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # offline_access: the grant outlives the provider session.
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))

    account: Mapped[Account | None] = relationship()
    profile: Mapped[Profile | None] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class RefreshToken(db.Model):
    __tablename__ = "refresh_tokens"

    # SHA-256 of the token: the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the token was exchanged for a new one; presenting it again is a reuse.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    grant: Mapped[Grant] = relationship()

