"""Password hashing (argon2id) and the password policy.

The hashing parameters come from the configuration (`security.password_hash_*`,
applied by `configure` when the app is made); a hash made with other parameters is
made again at the next successful login (`needs_rehash`).
"""

from __future__ import annotations

import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from idp.core.errors import RuleViolation
from idp.ops import metrics

_hasher = PasswordHasher()
# Verified when the identifier is unknown, so that the answer takes as long either way;
# made with the current parameters on first use.
_dummy_hash: str | None = None


def configure(time_cost: int, memory_kib: int, parallelism: int) -> None:
    global _hasher, _dummy_hash
    if (_hasher.time_cost, _hasher.memory_cost, _hasher.parallelism) != (
            time_cost, memory_kib, parallelism):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                 parallelism=parallelism)
        _dummy_hash = None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("not a password")
    return _dummy_hash


def password_stamp(password_hash: str | None) -> str:
    """Changes with the password (every hash has a salt of its own) and tells nothing of
    it: what is bound to it (a reset link, a remembered device) is void once it changes.
    A hash made again with new parameters (`needs_rehash`) voids them too, once."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


class WeakPassword(RuleViolation):
    pass


def hash_password(password: str) -> str:
    with metrics.password_hashing("hash"):
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        with metrics.password_hashing("verify"):
            return _hasher.verify(password_hash or _dummy(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_password_policy(password: str, min_length: int) -> None:
    """At least `min_length` characters mixing three kinds among lower, upper, digit, other."""
    if len(password) < min_length:
        raise WeakPassword(f"Le mot de passe doit contenir au moins {min_length} caractères.")
    kinds = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if kinds < 3:
        raise WeakPassword(
            "Le mot de passe doit mêler au moins trois types de caractères parmi : "
            "minuscules, majuscules, chiffres et caractères spéciaux."
        )
