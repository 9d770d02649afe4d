from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.core.clock import utcnow
from idp.extensions import UTCDateTime, db


class SigningKey(db.Model):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16), index=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Sealed with keys.passphrase by idp.keys.sealing (never stored in clear).
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Retired keys stay in the JWKS until this instant (the longest token lifetime).
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def state(self) -> str:
        if self.retired_at is None:
            return "active"
        if self.publish_until and self.publish_until > utcnow():
            return "retired (published)"
        return "retired"
