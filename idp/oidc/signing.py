"""The signing keys as the protocol uses them, read through the registry (in process,
kept true across processes): the opened private key of each algorithm, the public key
set that verifies our tokens, and the JWKS document.

A retired key leaves the JWKS when its publication time ends: entries built from the
published keys are read again after `PUBLISHED_TTL` seconds at the latest.
"""

from __future__ import annotations

from flask import Flask, current_app
from joserfc.jwk import KeySet

from idp.keys import service as keys
from idp.oidc.documents import Document
from idp.oidc.registry import registry

PUBLISHED_TTL = 60.0
# Relying applications keep the JWKS for minutes (its Cache-Control): a document at most
# a second older than a key change spares each fetch a look at the store.
JWKS_LAG = 1.0
# Short: a rotation must reach relying applications well before the old key retires.
JWKS_MAX_AGE = 300


def signing_keyset(alg: str) -> KeySet:
    """The active private key for `alg`, in a KeySet so that joserfc writes its `kid`."""
    passphrase = current_app.config["IDP"]["keys"]["passphrase"]
    return registry().cached(f"signing:{alg}",
                             lambda: KeySet([keys.signing_key(alg, passphrase)]))


def public_keyset() -> KeySet:
    return registry().cached("public-keyset", keys.public_keyset, ttl=PUBLISHED_TTL)


def jwks_document() -> Document:
    return registry().cached("jwks", lambda: Document.of(keys.jwks(), JWKS_MAX_AGE),
                             ttl=PUBLISHED_TTL, lag=JWKS_LAG)


def held_jwks(app: Flask) -> Document | None:
    """The JWKS document if this process holds it fresh (see `Registry.peek`)."""
    return app.extensions["idp.registry"].peek("jwks", JWKS_LAG)
