"""A WebAuthn authenticator written here, for the tests that drive the provider without
a browser: it answers the options the provider gives (`navigator.credentials.create`
and `.get`) the way a browser and a platform authenticator would, with an ES256 key per
credential and no attestation (`none`), and it can be told to lie (another origin,
another challenge, a counter that goes back).

It shares no code with the provider's side (py_webauthn): CBOR by cbor2, the signature
by cryptography, the byte layouts of WebAuthn Level 2 §6.1 written out below.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, AT = 0x01, 0x04, 0x08, 0x40  # authenticator data flags


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    """A platform authenticator that keeps its credentials (discoverable) and verifies
    its user; `counts` False is one that keeps its counter at 0 (synced passkeys),
    `synced` one whose credentials are backup eligible."""

    origin: str
    counts: bool = True
    synced: bool = False
    credentials: list[Credential] = field(default_factory=list)

    def _flags(self, extra: int) -> int:
        return UP | UV | (BE if self.synced else 0) | extra

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge,
                           "origin": origin or self.origin, "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], origin: str | None = None) -> str:
        """The browser's answer to `navigator.credentials.create({publicKey: options})`,
        as the provider's page sends it (JSON, base64url)."""
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        credential = Credential(secrets.token_bytes(16), key, options["rp"]["id"],
                                unb64url(options["user"]["id"]))
        self.credentials.append(credential)
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})
        attested = bytes(16) + struct.pack(">H", len(credential.id)) + credential.id + cose
        auth_data = (hashlib.sha256(credential.rp_id.encode()).digest()
                     + bytes([self._flags(AT)]) + struct.pack(">I", 0) + attested)
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return json.dumps({
            "id": b64url(credential.id), "rawId": b64url(credential.id), "type": "public-key",
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(cbor2.dumps(
                    {"fmt": "none", "attStmt": {}, "authData": auth_data})),
                "transports": ["internal"]}})

    def get(self, options: dict[str, Any], *, origin: str | None = None,
            challenge: str | None = None, credential: Credential | None = None,
            sign_count: int | None = None) -> str:
        """The answer to `navigator.credentials.get({publicKey: options})`: the first
        allowed credential (or any, for a discoverable sign-in) signs; what to lie about
        is given by name."""
        allowed = {unb64url(c["id"]) for c in options.get("allowCredentials") or []}
        credential = credential or next(c for c in self.credentials
                                        if not allowed or c.id in allowed)
        if sign_count is None:
            credential.sign_count += 1 if self.counts else 0
            sign_count = credential.sign_count
        auth_data = (hashlib.sha256(credential.rp_id.encode()).digest()
                     + bytes([self._flags(0)]) + struct.pack(">I", sign_count))
        client_data = self._client_data("webauthn.get", challenge or options["challenge"],
                                        origin)
        signature = credential.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                        ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64url(credential.id), "rawId": b64url(credential.id), "type": "public-key",
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
            "response": {"clientDataJSON": b64url(client_data),
                         "authenticatorData": b64url(auth_data),
                         "signature": b64url(signature),
                         "userHandle": b64url(credential.user_handle)}})
