"""What the provider keeps of a person's second factor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.core.clock import utcnow
from idp.extensions import UTCDateTime, db


class SecondFactor(db.Model):
    """An account's TOTP authenticator: at most one, confirmed by a first code."""

    __tablename__ = "second_factors"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    # The shared secret, sealed with keys.passphrase (idp.keys.sealing), never in clear.
    secret_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None while the enrolment is under way (the QR code shown, no code typed yet).
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The time step of the last code accepted: a code counts once (no replay).
    last_step: Mapped[int | None] = mapped_column(Integer)


class RecoveryCode(db.Model):
    """One of the single-use codes that stand in for a lost authenticator, hashed."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    salt: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of salt + code, hex
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Passkey(db.Model):
    """A WebAuthn credential (a passkey) registered by the account holder: a second
    factor after the password, or a sign-in without it (when the authenticator keeps
    the credential and verifies the person)."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))  # the holder's name for it
    # The credential id, base64url (at most 1023 bytes by WebAuthn: 1364 characters).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key, as registered
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[str] = mapped_column(String(128), default="")  # space-separated
    # Backup eligible (a synced, multi-device passkey): `swk` rather than `hwk` in amr.
    synced: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
