"""The rules of the second factor, for the pages, the login and the command line.

- The TOTP secret (RFC 6238: 6 digits, 30 s steps, SHA-1 as every authenticator app
  expects) is made here and stored sealed with `keys.passphrase` by the same sealing as
  the signing keys (`idp.keys.sealing`), bound to its account: a sealed secret copied
  onto another account does not open. The secrets share their purpose's derived key, so
  that a code check does not pay the key derivation.
- A code is accepted in its step and the steps either side (clocks drift), and once
  only: the step of the last code accepted is kept and a conditional UPDATE moves it
  forward, so two requests racing with the same code cannot both pass.
- Ten recovery codes (80 random bits each) are shown once and kept as salted SHA-256;
  one is consumed by a conditional UPDATE too.
Every change is audited and the holder told by mail, in the caller's transaction.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta

import pyotp
import segno
from sqlalchemy import delete, or_, select, update

from idp.core.audit import Actor, record
from idp.core.clock import utcnow
from idp.directory.models import Account
from idp.directory.passwords import password_stamp
from idp.extensions import db
from idp.keys import sealing
from idp.mail import service as mail
from idp.mfa.models import Passkey, RecoveryCode, SecondFactor

ISSUER = "PLAGE"  # the name authenticator apps show beside the identifier
SEALING_PURPOSE = "second-factor"
STEP = 30  # seconds
DRIFT_STEPS = 1  # steps accepted either side of the current one
RECOVERY_CODES = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Proof(enum.StrEnum):
    """How a person proved the second factor."""

    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


def _associated_data(account: Account) -> str:
    return f"totp:{account.id}"


def _row(account: Account) -> SecondFactor | None:
    return db.session.get(SecondFactor, account.id)


def enrolled(account: Account) -> SecondFactor | None:
    """The account's confirmed second factor, if it has one."""
    row = _row(account)
    return row if row is not None and row.confirmed_at is not None else None


def has_second_factor(account: Account) -> bool:
    """Whether the password alone no longer signs the account in: it has a TOTP app
    enrolled or a passkey registered (`idp.mfa.passkeys`)."""
    return enrolled(account) is not None or has_passkeys(account)


def has_passkeys(account: Account) -> bool:
    return db.session.scalar(
        select(Passkey.id).where(Passkey.account_id == account.id).limit(1)) is not None


def passkeys_of(account: Account) -> list[Passkey]:
    """The account's passkeys (`idp.mfa.passkeys`), oldest first."""
    return list(db.session.scalars(select(Passkey).where(
        Passkey.account_id == account.id).order_by(Passkey.created_at, Passkey.id)))


def device_stamp(factor: SecondFactor) -> str:
    """What a remembered device is bound to besides the account: this enrolment (a new
    one, or a reset, forgets every device) and the password (a new one, whoever set it
    and however, forgets them too: a password changed because it leaked leaves no
    device of the thief's that would spare him the code)."""
    assert factor.confirmed_at is not None
    account = db.session.get(Account, factor.account_id)
    assert account is not None
    enrolment = (factor.confirmed_at - _EPOCH) // timedelta(microseconds=1)
    return f"{enrolment}.{password_stamp(account.password_hash)}"


# --- enrolment ------------------------------------------------------------------------


def _new_row(account: Account, secret: str, passphrase: str) -> SecondFactor:
    row = SecondFactor(account_id=account.id, secret_sealed=sealing.seal(
        secret.encode(), passphrase, _associated_data(account), purpose=SEALING_PURPOSE))
    db.session.add(row)
    db.session.flush()
    return row


def pending_secret(account: Account, passphrase: str) -> str:
    """The secret of the enrolment under way (base32, as apps take it), made and sealed
    on first call; the QR code shown again shows the same one."""
    row = _row(account)
    if row is None:
        secret = pyotp.random_base32()  # 160 bits, RFC 4226's recommended length
        _new_row(account, secret, passphrase)
        return secret
    assert row.confirmed_at is None, "already enrolled"
    return _secret(account, row, passphrase)


def enrol_demo(account: Account, secret: str, passphrase: str, actor: Actor) -> bool:
    """`idp demo`: enrol a demo account with a published secret (never a real one);
    False if it has a second factor already. No mail: the address is made up."""
    if _row(account) is not None:
        return False
    _new_row(account, secret, passphrase).confirmed_at = utcnow()
    _new_recovery_codes(account)
    record(actor, "second_factor.enrolled", target=account, demo=True)
    return True


def provisioning_uri(account: Account, secret: str) -> str:
    """The otpauth:// address of the QR code (Key Uri Format of Google Authenticator)."""
    return pyotp.TOTP(secret, interval=STEP).provisioning_uri(
        name=account.identifier, issuer_name=ISSUER)


def qr_code_svg(uri: str) -> str:
    """The QR code of `uri` as an inline SVG element (no image request, no script)."""
    return segno.make(uri, error="m").svg_inline(scale=5, title="QR code à scanner")


def confirm(account: Account, code: str, passphrase: str, actor: Actor) -> list[str] | None:
    """End the enrolment with a first code from the app; the recovery codes to show the
    person (once), or None if the code is wrong."""
    row = _row(account)
    if row is None or row.confirmed_at is not None:
        return None
    if not _accept_totp(account, row, code, passphrase):
        return None
    row.confirmed_at = utcnow()
    codes = _new_recovery_codes(account)
    record(actor, "second_factor.enrolled", target=account)
    _tell(account, "second_factor_enabled")
    return codes


def remove(account: Account, actor: Actor, *, by_administrator: bool = False) -> bool:
    """Take the account's TOTP app away (the holder disables it), or every second factor,
    its passkeys too (an administrator resets it: the device is lost); False if there
    was none."""
    had = has_second_factor(account) if by_administrator else enrolled(account) is not None
    db.session.execute(delete(SecondFactor).where(SecondFactor.account_id == account.id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
    if by_administrator:
        db.session.execute(delete(Passkey).where(Passkey.account_id == account.id))
    if had:
        record(actor, "second_factor.reset" if by_administrator else "second_factor.disabled",
               target=account)
        _tell(account, "second_factor_disabled", by_administrator=by_administrator)
    return had


# --- proving it -----------------------------------------------------------------------


def verify(account: Account, code: str, passphrase: str, actor: Actor) -> Proof | None:
    """Check what the person typed: a code of the app (six digits) or a recovery code.
    A recovery code is consumed, audited and the holder told how many remain."""
    factor = enrolled(account)
    if factor is None:
        return None
    typed = "".join(code.split())
    if _looks_like_totp(typed):
        return Proof.TOTP if _accept_totp(account, factor, typed, passphrase) else None
    if not _consume_recovery_code(account, typed):
        return None
    left = remaining_recovery_codes(account)
    record(actor, "second_factor.recovery_code_used", target=account, remaining=left)
    _tell(account, "recovery_code_used", remaining=left)
    return Proof.RECOVERY_CODE


def renew_recovery_codes(account: Account, actor: Actor) -> list[str]:
    """Ten new recovery codes in place of the old ones, used or not (those stop working),
    the second factor kept: to show the person, once."""
    assert enrolled(account) is not None
    codes = _new_recovery_codes(account)
    record(actor, "second_factor.recovery_codes_renewed", target=account)
    _tell(account, "recovery_codes_renewed")
    return codes


def remaining_recovery_codes(account: Account) -> int:
    return len(db.session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None))).all())


def _secret(account: Account, row: SecondFactor, passphrase: str) -> str:
    return sealing.unseal(row.secret_sealed, passphrase, _associated_data(account)).decode()


def _looks_like_totp(code: str) -> bool:
    return code.isascii() and code.isdigit() and len(code) == 6


def _matching_step(secret: str, code: str, now: float) -> int | None:
    totp = pyotp.TOTP(secret, interval=STEP)
    current = int(now // STEP)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def _accept_totp(account: Account, row: SecondFactor, code: str, passphrase: str) -> bool:
    """The code matches a step near now that is later than the last one accepted; that
    step becomes the last one (atomically: a replayed code loses the race)."""
    code = "".join(code.split())
    if not _looks_like_totp(code):
        return False
    step = _matching_step(_secret(account, row, passphrase), code, time.time())
    if step is None:
        return False
    moved = db.session.execute(
        update(SecondFactor)
        .where(SecondFactor.account_id == account.id,
               or_(SecondFactor.last_step.is_(None), SecondFactor.last_step < step))
        .values(last_step=step)
        .execution_options(synchronize_session=False))
    db.session.refresh(row)
    return moved.rowcount == 1


# --- recovery codes -------------------------------------------------------------------


def _normalised(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256((salt + _normalised(code)).encode()).hexdigest()


def _new_recovery_codes(account: Account) -> list[str]:
    """Replace the account's recovery codes; the new ones, readable (xxxx-xxxx-xxxx-xxxx)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 16 characters
        code = "-".join(raw[i:i + 4] for i in range(0, 16, 4))
        salt = secrets.token_hex(16)
        db.session.add(RecoveryCode(account_id=account.id, salt=salt,
                                    digest=_digest(salt, code)))
        codes.append(code)
    return codes


def _consume_recovery_code(account: Account, code: str) -> bool:
    unused = db.session.scalars(select(RecoveryCode).where(
        RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None))).all()
    match = next((row for row in unused
                  if hmac.compare_digest(row.digest, _digest(row.salt, code))), None)
    if match is None:
        return False
    used = db.session.execute(
        update(RecoveryCode).where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False))
    return used.rowcount == 1


def _tell(account: Account, template: str, **context: object) -> None:
    if account.email:
        mail.queue_template(account.email, template, name=account.full_name, **context)
