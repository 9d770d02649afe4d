"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): logout tokens, queued and
delivered to the clients' `backchannel_logout_uri`.

A delivery is a `BackchannelDelivery` row written in the transaction that ends the
session (an outbox: nothing is lost if the process dies). Once that transaction has
committed, `dispatch_pending()` hands the rows to this process's dispatcher, which POSTs
them from a background thread, so the person's logout never waits for a client. A failed
attempt is retried with growing delays up to `DeliveryPolicy.max_attempts`; `idp logout
deliver` (cron) sends what is due after a crash. Every attempt first *claims* its row
with a conditional UPDATE that also sets a lease, so several processes never POST the
same token at the same time.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import os
import secrets
import threading
import time
import weakref
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from flask import Flask, current_app
from joserfc import jwt
from sqlalchemy import select, update

from idp.clients.models import Client
from idp.core.audit import Actor, record
from idp.core.clock import utcnow
from idp.extensions import db
from idp.oidc.models import BackchannelDelivery
from idp.oidc.server import issuer, signing_keyset

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_JWT_TYPE = "logout+jwt"  # the `typ` header (Back-Channel Logout 2.4)
# Short, as the specification recommends; a token resent later is signed afresh.
LOGOUT_TOKEN_TTL = 120
_PENDING = "backchannel.pending"


@dataclass
class DeliveryPolicy:
    """How hard we try. Per application (`policy()`), so tests can make it quick."""

    timeout: float = 5.0  # seconds, for connecting and for the answer
    # Delay before the 2nd, 3rd... attempt: about a day of tries in all.
    retry_delays: tuple[float, ...] = (10, 60, 300, 1800, 3600, 4 * 3600, 12 * 3600)
    lease: float = 60.0  # a claimed row is not claimed again before this (crash recovery)

    @property
    def max_attempts(self) -> int:
        return len(self.retry_delays) + 1

    def delay_after(self, attempts: int) -> float | None:
        """Seconds before the next attempt, None when `attempts` is the last one."""
        return self.retry_delays[attempts - 1] if attempts < self.max_attempts else None


def policy(app: Flask | None = None) -> DeliveryPolicy:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions.setdefault("idp.backchannel_policy", DeliveryPolicy())


# --- logout tokens --------------------------------------------------------------------


def logout_token(client: Client, sid: str, sub: str | None, jti: str | None = None) -> str:
    """A logout token for `client`, signed like its ID tokens; `sid` always, no nonce."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer(), "aud": client.client_id, "iat": now, "exp": now + LOGOUT_TOKEN_TTL,
        "jti": jti or secrets.token_urlsafe(16), "sid": sid, "events": {EVENT: {}},
    }
    if sub:
        claims["sub"] = sub
    alg = client.id_token_signed_response_alg or "RS256"
    return jwt.encode({"alg": alg, "typ": LOGOUT_JWT_TYPE}, claims, signing_keyset(alg))


def _claims_of(token: str) -> dict[str, Any]:
    """The payload of a token we signed and stored ourselves (no need to verify it)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _fresh_token(row: BackchannelDelivery) -> str:
    """The row's token, signed again (same jti) when it would expire before it arrives."""
    claims = _claims_of(row.logout_token)
    if claims["exp"] - time.time() > LOGOUT_TOKEN_TTL / 2:
        return row.logout_token
    client = db.session.scalar(select(Client).where(Client.client_id == row.client_id))
    assert client is not None  # clients are disabled, never deleted
    row.logout_token = logout_token(client, claims["sid"], claims.get("sub"), claims["jti"])
    return row.logout_token


# --- queueing -------------------------------------------------------------------------


def queue(client_ids: Iterable[str], sid: str, sub: str | None) -> int:
    """Add a delivery for each of these clients that registered a back-channel URI.

    Part of the caller's transaction; call `dispatch_pending()` once it has committed.
    """
    wanted = list(dict.fromkeys(client_ids))
    if not wanted:
        return 0
    clients = db.session.scalars(select(Client).where(
        Client.client_id.in_(wanted), Client.disabled.is_(False),
        Client.backchannel_logout_uri.is_not(None)).order_by(Client.client_id))
    rows = [BackchannelDelivery(client_id=c.client_id, uri=c.backchannel_logout_uri,
                                logout_token=logout_token(c, sid, sub), next_attempt_at=utcnow())
            for c in clients if c.backchannel_logout_uri]
    db.session.add_all(rows)
    db.session.flush()
    db.session.info.setdefault(_PENDING, []).extend(row.id for row in rows)
    return len(rows)


def dispatch_pending() -> None:
    """Start delivering, in the background, what this session queued (after commit)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for delivery_id in db.session.info.pop(_PENDING, []):
        dispatcher.submit(app, delivery_id)


# --- delivering -----------------------------------------------------------------------


@dataclass
class Outcome:
    delivery_id: int
    client_id: str
    delivered: bool
    error: str | None = None
    retry_in: float | None = None  # None: delivered, or given up

    @property
    def abandoned(self) -> bool:
        return not self.delivered and self.retry_in is None


def _due(rules: DeliveryPolicy, now: datetime) -> list[Any]:
    return [BackchannelDelivery.delivered_at.is_(None),
            BackchannelDelivery.next_attempt_at <= now,
            BackchannelDelivery.attempts < rules.max_attempts]


def claim(delivery_id: int, rules: DeliveryPolicy) -> BackchannelDelivery | None:
    """Take a due delivery for one attempt, atomically; None if not due or taken."""
    now = utcnow()
    taken = db.session.execute(
        update(BackchannelDelivery)
        .where(BackchannelDelivery.id == delivery_id, *_due(rules, now))
        .values(attempts=BackchannelDelivery.attempts + 1,
                next_attempt_at=now + timedelta(seconds=rules.lease))
    ).rowcount
    db.session.commit()
    return db.session.get(BackchannelDelivery, delivery_id) if taken else None


def send(uri: str, token: str, timeout: float) -> str | None:
    """POST the token as the specification says; None on success, else what went wrong."""
    try:
        response = requests.post(uri, data={"logout_token": token}, timeout=timeout,
                                 allow_redirects=False,
                                 headers={"Cache-Control": "no-cache, no-store"})
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    # 204 too: some frameworks answer it for an empty 200 (Back-Channel Logout 2.8).
    return None if response.status_code in (200, 204) else f"HTTP {response.status_code}"


def attempt(delivery_id: int) -> Outcome | None:
    """One delivery attempt, if the row is due and nobody else holds it."""
    rules = policy()
    row = claim(delivery_id, rules)
    if row is None:
        return None
    error = send(row.uri, _fresh_token(row), rules.timeout)
    outcome = Outcome(row.id, row.client_id, delivered=error is None, error=error)
    if error is None:
        row.delivered_at, row.last_error = utcnow(), None
    else:
        row.last_error = error
        outcome.retry_in = rules.delay_after(row.attempts)
        if outcome.retry_in is None:
            current_app.logger.warning("back-channel logout to %s abandoned after %d "
                                       "attempts: %s", row.client_id, row.attempts, error)
            record(Actor.system(), "logout.backchannel_abandoned", client=row.client_id,
                   delivery=row.id, attempts=row.attempts, error=error)
        else:
            row.next_attempt_at = utcnow() + timedelta(seconds=outcome.retry_in)
    db.session.commit()
    return outcome


def deliver_due(limit: int = 500, workers: int = 8) -> list[Outcome]:
    """Attempt every due delivery now (the cron command), a few at a time."""
    rules = policy()
    ids = list(db.session.scalars(
        select(BackchannelDelivery.id).where(*_due(rules, utcnow()))
        .order_by(BackchannelDelivery.next_attempt_at).limit(limit)))
    db.session.commit()  # end the read transaction before the workers write
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def one(delivery_id: int) -> Outcome | None:
        with app.app_context():
            return attempt(delivery_id)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return [o for o in pool.map(one, ids) if o is not None]


def undelivered(limit: int = 500) -> list[BackchannelDelivery]:
    return list(db.session.scalars(
        select(BackchannelDelivery).where(BackchannelDelivery.delivered_at.is_(None))
        .order_by(BackchannelDelivery.created_at).limit(limit)))


# --- in-process dispatcher ------------------------------------------------------------


class Dispatcher:
    """Runs attempts in this process: a scheduler thread waits for each due time and hands
    the attempt to a few worker threads. Retries are scheduled here too; should the
    process stop, the rows stay due in the database for `idp logout deliver`."""

    def __init__(self, workers: int = 4) -> None:
        self._workers = workers
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Flask, int]] = []
        self._order = itertools.count()
        self._busy = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pid: int | None = None
        self._stopped: weakref.WeakSet[Flask] = weakref.WeakSet()

    def submit(self, app: Flask, delivery_id: int, delay: float = 0.0) -> None:
        with self._cond:
            if app in self._stopped:
                return
            self._start()
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), app,
                                        delivery_id))
            self._cond.notify_all()

    def stop(self, app: Flask) -> None:
        """No more attempts for `app` in this process (shutdown): what is scheduled is
        dropped, what runs finishes; the rows stay due for `idp logout deliver`."""
        with self._cond:
            self._stopped.add(app)
            self._heap = [entry for entry in self._heap if entry[2] is not app]
            heapq.heapify(self._heap)
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is scheduled or running (tests, graceful shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _start(self) -> None:
        if self._pid == os.getpid():
            return
        # First use, or a forked worker process: the parent's threads did not follow.
        self._heap.clear()
        self._busy = 0
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="backchannel")
        threading.Thread(target=self._schedule, name="backchannel-scheduler",
                         daemon=True).start()
        self._pid = os.getpid()

    def _schedule(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, app, delivery_id = heapq.heappop(self._heap)
                self._busy += 1
                pool = self._pool
            try:
                assert pool is not None
                pool.submit(self._run, app, delivery_id)
            except RuntimeError:  # interpreter shutting down: the cron will deliver it
                self._done()

    def _run(self, app: Flask, delivery_id: int) -> None:
        try:
            with app.app_context():
                outcome = attempt(delivery_id)
            if outcome is not None and outcome.retry_in is not None:
                self.submit(app, delivery_id, outcome.retry_in)
        except Exception:
            app.logger.exception("back-channel logout delivery %s failed", delivery_id)
        finally:
            self._done()

    def _done(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()


dispatcher = Dispatcher()
