"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): logout tokens for the
clients' `backchannel_logout_uri`, sent through the outbox.

`queue()` puts one outbox item per client on the `backchannel` channel, in the
transaction that ends the session (nothing is lost if the process dies); the caller
commits, then calls `idp.outbox.service.send_after_commit()`, so the person's logout
never waits for a client. `LogoutChannel` signs the token when it sends it, so that a
token sent after retries is as fresh as the first one; its `jti` stays the same at every
attempt, so a client that got it twice (delivery is at least once) can tell.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

import requests
from flask import current_app
from joserfc import jwt
from sqlalchemy import select

from idp.clients.models import Client
from idp.extensions import db
from idp.oidc.capabilities import DEFAULT_SIGNING_ALGORITHM
from idp.oidc.server import issuer
from idp.oidc.signing import signing_keyset
from idp.outbox import service as outbox
from idp.outbox.channels import Channel, Item, RetryLater

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_JWT_TYPE = "logout+jwt"  # the `typ` header (Back-Channel Logout 2.4)
LOGOUT_TOKEN_TTL = 120  # short, as the specification recommends
CHANNEL = "backchannel"


def logout_token(client: Client, sid: str, sub: str | None, jti: str | None = None) -> str:
    """A logout token for `client`, signed like its ID tokens; `sid` always, no nonce."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer(), "aud": client.client_id, "iat": now, "exp": now + LOGOUT_TOKEN_TTL,
        "jti": jti or secrets.token_urlsafe(16), "sid": sid, "events": {EVENT: {}},
    }
    if sub:
        claims["sub"] = sub
    alg = client.id_token_signed_response_alg or DEFAULT_SIGNING_ALGORITHM
    return jwt.encode({"alg": alg, "typ": LOGOUT_JWT_TYPE}, claims, signing_keyset(alg))


def queue(client_ids: Iterable[str], sid: str, sub: str | None) -> int:
    """Queue a logout token for each of these clients that registered a back-channel URI.

    Part of the caller's transaction; returns how many were queued.
    """
    wanted = list(dict.fromkeys(client_ids))
    if not wanted:
        return 0
    clients = db.session.scalars(select(Client).where(
        Client.client_id.in_(wanted), Client.disabled.is_(False),
        Client.backchannel_logout_uri.is_not(None)).order_by(Client.client_id))
    queued = 0
    for client in clients:
        if client.backchannel_logout_uri:
            outbox.put(CHANNEL, client.client_id, f"Logout of session {sid}",
                       {"uri": client.backchannel_logout_uri, "sid": sid, "sub": sub,
                        "jti": secrets.token_urlsafe(16)})
            queued += 1
    return queued


def post(uri: str, token: str, timeout: float) -> str | None:
    """POST the token as the specification says; None on success, else what went wrong."""
    try:
        response = requests.post(uri, data={"logout_token": token}, timeout=timeout,
                                 allow_redirects=False,
                                 headers={"Cache-Control": "no-cache, no-store"})
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    # 204 too: some frameworks answer it for an empty 200 (Back-Channel Logout 2.8).
    return None if response.status_code in (200, 204) else f"HTTP {response.status_code}"


class LogoutChannel(Channel):
    """POSTs freshly signed logout tokens; each client is a different server, so a few
    are sent at once and one that hangs holds up only its own."""

    name = CHANNEL
    workers = 4

    def __init__(self) -> None:
        self.timeout = current_app.config["IDP"]["oidc"]["backchannel_logout_timeout"]

    def send(self, item: Item) -> None:
        client = db.session.scalar(select(Client).where(Client.client_id == item.recipient))
        assert client is not None  # clients are disabled, never deleted
        payload = item.payload
        token = logout_token(client, payload["sid"], payload["sub"], payload["jti"])
        error = post(payload["uri"], token, self.timeout)
        if error is not None:
            raise RetryLater(error)
