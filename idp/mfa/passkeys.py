"""Passkeys (WebAuthn, through py_webauthn): registered from Mon compte, used as the
second factor after the password or to sign in without it.

- The relying party is the configured issuer: its host name is the RP ID, its scheme,
  host and port the only origin accepted. Browsers offer WebAuthn to secure contexts
  only, so passkeys exist over https, or over http on `localhost` (development, tests);
  on any other issuer they are not offered.
- No attestation is asked (`none`): a passkey is a key the holder chose, not a device
  the provider vouches for.
- Every answer signs a challenge issued to the browser's session for one purpose and
  taken once (`idp.web.second_factor`, the caller's business); a passkey whose
  signature counter does not move forward (a cloned authenticator, a replay) is
  refused, and the counter moves by a conditional UPDATE (two racing answers: one wins).
- After the password, any registered passkey of the account will do (user presence); a
  sign-in without password needs a discoverable credential and user verification (a PIN
  or a biometric on the authenticator): the two factors are then both on the device.
- RFC 8176 `amr`: `hwk` for a passkey bound to one device, `swk` for a synced one (the
  authenticator's backup eligibility flag at registration); `user` is added to a
  sign-in without password (the authenticator verified the person; it does not say how).
Every change is audited and the holder told by mail, in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp.core.audit import Actor, record
from idp.core.clock import utcnow
from idp.directory.enums import AccountState
from idp.directory.models import Account
from idp.extensions import db
from idp.mail import service as mail
from idp.mfa import service
from idp.mfa.models import Passkey

RP_NAME = "PLAGE"
TIMEOUT = 120  # seconds of the browser's prompt; its challenge lives as long in the store
MAX_PASSKEYS = 10  # per account
MAX_ANSWER = 16_000  # characters of the browser's JSON answer (no attestation asked)
HARDWARE, SOFTWARE, VERIFIED_USER = "hwk", "swk", "user"


class PasskeyRefused(Exception):
    """The browser's answer does not prove what it must; `reason` for the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RelyingParty:
    id: str  # the issuer's host name
    origin: str  # scheme://host[:port], the one origin whose answers count


def relying_party(issuer: str) -> RelyingParty | None:
    """The relying party of `issuer`, or None where browsers offer no WebAuthn (plain
    http beyond localhost) or the host is an address (an RP ID is a domain)."""
    parts = urlsplit(issuer)
    host = (parts.hostname or "").lower()
    local = host == "localhost" or host.endswith(".localhost")
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and local)):
        return None
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    port = f":{parts.port}" if parts.port else ""
    return RelyingParty(id=host, origin=f"{parts.scheme}://{host}{port}")


def user_handle(account: Account, secret: str) -> bytes:
    """The WebAuthn user id of `account`: stable, opaque (no identifier or name in the
    authenticator), derived with the application's secret rather than stored."""
    return hmac.new(secret.encode(), f"passkey-user:{account.id}".encode(),
                    hashlib.sha256).digest()


def amr(passkey: Passkey, *, passwordless: bool) -> list[str]:
    """What a login with `passkey` adds to `amr` (RFC 8176)."""
    key = SOFTWARE if passkey.synced else HARDWARE
    return [key, VERIFIED_USER] if passwordless else [key]


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in passkey.transports.split():
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:  # a transport this version of the library does not know
            continue
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(passkey.credential_id),
                                         transports=transports or None)


def _json(answer: str) -> dict[str, Any]:
    if not answer or len(answer) > MAX_ANSWER:
        raise PasskeyRefused("malformed")
    try:
        data = json.loads(answer)
    except ValueError as error:
        raise PasskeyRefused("malformed") from error
    if not isinstance(data, dict):
        raise PasskeyRefused("malformed")
    return data


# WebAuthnException covers what the library checks; the others are what a hostile answer
# makes its parsers raise (bad base64, CBOR, types) before its own checks.
_BAD_ANSWER = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError)


# --- registration ---------------------------------------------------------------------


def registration_options(rp: RelyingParty, account: Account, challenge: bytes,
                         secret: str) -> str:
    """The options of `navigator.credentials.create()`, as JSON (base64url binaries)."""
    options = generate_registration_options(
        rp_id=rp.id, rp_name=RP_NAME, user_name=account.identifier,
        user_id=user_handle(account, secret), user_display_name=account.full_name,
        challenge=challenge, timeout=TIMEOUT * 1000,
        # Discoverable when the authenticator can (sign-in without password); a security
        # key that cannot still serves as a second factor.
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=[_descriptor(p) for p in service.passkeys_of(account)])
    return options_to_json(options)


def register(rp: RelyingParty, account: Account, name: str, answer: str, challenge: bytes,
             actor: Actor) -> Passkey:
    """Keep the passkey the browser made for `challenge`; PasskeyRefused otherwise."""
    if len(service.passkeys_of(account)) >= MAX_PASSKEYS:
        raise PasskeyRefused("too_many")
    try:
        credential = parse_registration_credential_json(_json(answer))
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin)
    except _BAD_ANSWER as error:
        raise PasskeyRefused("invalid") from error
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)):
        raise PasskeyRefused("already_registered")
    transports = credential.response.transports or []
    passkey = Passkey(
        account_id=account.id, name=name, credential_id=credential_id,
        public_key=verified.credential_public_key, sign_count=verified.sign_count,
        transports=" ".join(t.value for t in transports),
        synced=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE)
    db.session.add(passkey)
    db.session.flush()
    record(actor, "passkey.registered", target=account, passkey=name)
    _tell(account, "passkey_added", passkey=name)
    return passkey


def remove(account: Account, passkey_id: int, actor: Actor) -> bool:
    """Delete one of the account's passkeys; False if it has no such passkey."""
    passkey = db.session.get(Passkey, passkey_id)
    if passkey is None or passkey.account_id != account.id:
        return False
    db.session.delete(passkey)
    db.session.flush()
    record(actor, "passkey.removed", target=account, passkey=passkey.name)
    _tell(account, "passkey_removed", passkey=passkey.name)
    return True


# --- proving it -----------------------------------------------------------------------


def authentication_options(rp: RelyingParty, challenge: bytes,
                           account: Account | None) -> str:
    """The options of `navigator.credentials.get()`: the passkeys of `account` after its
    password, or (None) any discoverable one, the person verified by the authenticator."""
    options = generate_authentication_options(
        rp_id=rp.id, challenge=challenge, timeout=TIMEOUT * 1000,
        allow_credentials=[_descriptor(p) for p in service.passkeys_of(account)] if account else [],
        user_verification=UserVerificationRequirement.PREFERRED if account
        else UserVerificationRequirement.REQUIRED)
    return options_to_json(options)


def authenticate(rp: RelyingParty, answer: str, challenge: bytes, secret: str,
                 account: Account | None) -> Passkey:
    """The passkey that signed `challenge`: one of `account`'s after its password, or
    (None) anyone's, discoverable and with the person verified. PasskeyRefused
    otherwise, its signature counter gone backwards included."""
    try:
        credential = parse_authentication_credential_json(_json(answer))
    except _BAD_ANSWER as error:
        raise PasskeyRefused("invalid") from error
    passkey = db.session.scalars(select(Passkey).where(
        Passkey.credential_id == credential.id)).first()
    if passkey is None or (account is not None and passkey.account_id != account.id):
        raise PasskeyRefused("unknown_credential")
    owner = account or db.session.get(Account, passkey.account_id)
    handle = credential.response.user_handle
    if owner is None or (handle is not None and not hmac.compare_digest(
            handle, user_handle(owner, secret))):
        raise PasskeyRefused("unknown_credential")
    if owner.state != AccountState.ACTIVE:  # closed (merged away), or not opened yet
        raise PasskeyRefused("inactive_account")
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=account is None)
    except _BAD_ANSWER as error:
        raise PasskeyRefused("invalid") from error
    count = verified.new_sign_count
    # Forward only, atomically; an authenticator that counts nothing (0, synced
    # passkeys) stays at 0, its answers kept single-use by their challenges.
    forward = Passkey.sign_count < count if count else Passkey.sign_count == 0
    moved = db.session.execute(
        update(Passkey)
        .where(Passkey.id == passkey.id, forward)
        .values(sign_count=count, last_used_at=utcnow())
        .execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        raise PasskeyRefused("sign_count")
    db.session.refresh(passkey)
    return passkey


def _tell(account: Account, template: str, **context: object) -> None:
    if account.email:
        mail.queue_template(account.email, template, name=account.full_name, **context)
