"""Private signing keys encrypted at rest with the configured passphrase.

The key encryption key is derived with PBKDF2-HMAC-SHA256 at 600,000 iterations, OWASP's
recommendation (Password Storage Cheat Sheet), and a random salt per key; the PEM is
sealed with AES-256-GCM, its `kid` as associated data (a sealed key copied onto another
row does not open). The stored text names its scheme and iteration count, so that a
stronger setting later leaves today's keys readable:

    pbkdf2-sha256-aes256gcm$<iterations>$<salt>$<nonce>$<ciphertext>   (base64url)

Keys written before used the PKCS#8 encryption of `cryptography`'s
BestAvailableEncryption: PBES2 with PBKDF2-HMAC-SHA256 at only 2,048 iterations. They
are still read; `idp keys rotate` replaces them.

The derivation costs about a tenth of a second, on purpose, and is paid once per process
for each (passphrase, salt): the derived key is kept in memory, next to the keys it
opens (`idp.keys.service` also keeps each opened signing key by kid). What is sealed for
a `purpose` (the second factor's secrets: one per account, opened at each code check)
takes this process's random salt for that purpose instead of one of its own, so that a
single derivation opens them all; each still has its own nonce and its associated data
binds it to its row. `bench/sealing.py` shows the cost of a code check with and without.
"""

from __future__ import annotations

import base64
import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from idp.core.errors import RuleViolation

SCHEME = "pbkdf2-sha256-aes256gcm"
ITERATIONS = 600_000
LEGACY_PREFIX = "-----BEGIN ENCRYPTED PRIVATE KEY-----"
# Derived keys kept per process: a few per signing key and per process that sealed a
# purpose's secrets (each has its salt), far fewer than this.
CACHED_KEYS = 256

_purpose_salts: dict[str, bytes] = {}


class WrongPassphrase(RuleViolation):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=CACHED_KEYS)
def _key(passphrase: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(passphrase.encode())


def _salt(purpose: str | None) -> bytes:
    if purpose is None:
        return os.urandom(16)
    return _purpose_salts.setdefault(purpose, os.urandom(16))


def seal(pem: bytes, passphrase: str, kid: str, *, purpose: str | None = None) -> str:
    """The stored form of an unencrypted private key PEM (or any secret, `kid` naming
    what it is bound to); with a `purpose`, under the key derived for that purpose."""
    salt, nonce = _salt(purpose), os.urandom(12)
    sealed = AESGCM(_key(passphrase, salt, ITERATIONS)).encrypt(nonce, pem, kid.encode())
    return "$".join([SCHEME, str(ITERATIONS), _b64(salt), _b64(nonce), _b64(sealed)])


def is_legacy(stored: str) -> bool:
    """Encrypted the old way (PKCS#8, 2,048 iterations): `unseal` cannot open it, the
    PEM library does, with the passphrase."""
    return stored.startswith(LEGACY_PREFIX)


def unseal(stored: str, passphrase: str, kid: str) -> bytes:
    """The unencrypted PEM of a key sealed by `seal`."""
    scheme, iterations, salt, nonce, sealed = stored.split("$")
    if scheme != SCHEME:
        raise ValueError(f"Chiffrement de clé privée inconnu : {scheme!r}.")
    try:
        return AESGCM(_key(passphrase, _unb64(salt), int(iterations))).decrypt(
            _unb64(nonce), _unb64(sealed), kid.encode())
    except InvalidTag:
        raise WrongPassphrase(f"Impossible d'ouvrir la clé privée {kid} : "
                              "keys.passphrase n'est pas la bonne.") from None
