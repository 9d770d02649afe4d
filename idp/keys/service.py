"""Generate, rotate, list and load signing keys.

Private keys are stored sealed with the passphrase (`idp.keys.sealing`); an opened key
is kept in memory per process by kid, so that signing does not pay the key derivation
at every request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import or_, select

from idp.core.audit import Actor, record
from idp.core.clock import utcnow
from idp.core.errors import RuleViolation
from idp.extensions import db
from idp.keys import sealing
from idp.keys.models import SigningKey

Key = RSAKey | ECKey

# The algorithms we sign with, each with the type of key it needs and how to make one.
# This is the list the whole provider supports (idp.oidc.capabilities reads it).
_KEY_TYPES: dict[str, tuple[type[Key], Callable[[], Key]]] = {
    "RS256": (RSAKey, lambda: RSAKey.generate_key(2048, private=True)),
    "ES256": (ECKey, lambda: ECKey.generate_key("P-256", private=True)),
}
SUPPORTED_ALGORITHMS = tuple(_KEY_TYPES)
# The one every relying party must support (OpenID Connect Core 15.1).
DEFAULT_ALGORITHM = "RS256"


class NoSigningKey(RuleViolation):
    pass


def _check_alg(alg: str) -> str:
    alg = alg.upper()
    if alg not in SUPPORTED_ALGORITHMS:
        raise RuleViolation(
            f"Algorithme non pris en charge : {alg}. "
            f"Choisissez parmi : {', '.join(SUPPORTED_ALGORITHMS)}."
        )
    return alg


def _new_private_key(alg: str) -> Key:
    cls, generate = _KEY_TYPES[alg]
    key = generate()
    params = {"kid": key.thumbprint(), "alg": alg, "use": "sig"}
    return cls.import_key(key.as_dict(private=True), parameters=params)


def generate(alg: str, passphrase: str, actor: Actor) -> SigningKey:
    """Add the first active key for `alg`; replacing one is `rotate`'s job."""
    current = active_key_row(_check_alg(alg))
    if current is not None:
        raise RuleViolation(
            f"Une clé {current.alg} active existe déjà (kid {current.kid}) : "
            "utilisez `idp keys rotate` pour la remplacer."
        )
    return rotate(alg, passphrase, actor, retire_after=timedelta(0))


def rotate(
    alg: str,
    passphrase: str,
    actor: Actor,
    *,
    retire_after: timedelta,
    only_if_missing: bool = False,
) -> SigningKey:
    """Make a new active key for `alg`; the old one stays published for `retire_after`."""
    alg = _check_alg(alg)
    current = active_key_row(alg)
    if only_if_missing and current is not None:
        return current
    key = _new_private_key(alg)
    row = SigningKey(
        kid=key.kid,
        alg=alg,
        public_jwk=key.as_dict(private=False),
        private_pem=sealing.seal(key.as_pem(private=True), passphrase, key.kid),
    )
    _remember(key)  # the process that made it need not derive the passphrase to use it
    db.session.add(row)
    now = utcnow()
    if current is not None:
        current.retired_at = now
        current.publish_until = now + retire_after
    db.session.flush()
    record(actor, "keys.rotate" if current else "keys.generate", target=row, alg=alg,
           retired=current.kid if current else None)
    return row


def ensure_keys(passphrase: str, actor: Actor) -> list[SigningKey]:
    """One active key per supported algorithm (what `idp init` guarantees)."""
    return [
        rotate(alg, passphrase, actor, retire_after=timedelta(0), only_if_missing=True)
        for alg in SUPPORTED_ALGORITHMS
    ]


def active_key_row(alg: str) -> SigningKey | None:
    return db.session.scalar(
        select(SigningKey)
        .where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
    )


def all_keys() -> list[SigningKey]:
    return list(db.session.scalars(select(SigningKey).order_by(SigningKey.created_at)))


def published_keys() -> list[SigningKey]:
    now = datetime.now(UTC)
    return list(db.session.scalars(
        select(SigningKey)
        .where(or_(SigningKey.retired_at.is_(None), SigningKey.publish_until > now))
        .order_by(SigningKey.created_at)
    ))


def jwks() -> dict[str, Any]:
    """The public JWKS: active keys and retired keys still within their publication time."""
    return {"keys": [dict(row.public_jwk) for row in published_keys()]}


_opened: dict[str, Key] = {}  # kid -> private key, in this process
_OPENED_MAX = 32  # far more than the keys in use: active ones and a few retired


def _remember(key: Key) -> None:
    if len(_opened) >= _OPENED_MAX:
        _opened.pop(next(iter(_opened)))  # the oldest one
    _opened[key.kid] = key


def _open(row: SigningKey, passphrase: str) -> Key:
    if row.kid in _opened:
        return _opened[row.kid]
    cls = _KEY_TYPES[row.alg][0]
    params = {"kid": row.kid, "alg": row.alg, "use": "sig"}
    if sealing.is_legacy(row.private_pem):
        key = cls.import_key(row.private_pem.encode("ascii"), parameters=params,
                             password=passphrase)
    else:
        key = cls.import_key(sealing.unseal(row.private_pem, passphrase, row.kid),
                             parameters=params)
    _remember(key)
    return key


def signing_key(alg: str, passphrase: str) -> Key:
    """The active private key for `alg`, opened (once per process)."""
    row = active_key_row(_check_alg(alg))
    if row is None:
        raise NoSigningKey(
            f"Aucune clé de signature {alg} active : exécutez `idp keys generate --alg {alg}`."
        )
    return _open(row, passphrase)


def public_keyset() -> KeySet:
    return KeySet.import_key_set(jwks())
