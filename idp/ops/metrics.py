"""The provider's Prometheus metrics, and the one-line calls that move them.

Every layer that counts an event imports this module (it imports nothing of the
provider). Under gunicorn, set `PROMETHEUS_MULTIPROC_DIR` (see `idp.ops.gunicorn`): each
worker then writes its samples to files there, and a scrape answered by any worker adds
up those of all of them. Without it, a process serves its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from idp.ops.context import note_outcome

# The password page: a login done, a wrong password, refused by the brute-force rules,
# or the password right and the second factor's code asked next.
LOGIN_OUTCOMES = ("success", "bad_credentials", "locked", "slowed", "second_factor_required")
SECOND_FACTOR_OUTCOMES = ("success", "bad_code", "locked", "slowed")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")

LOGINS = Counter("idp_logins", "Login attempts on the login page, by outcome.", ["outcome"])
TOKENS = Counter("idp_tokens_issued", "Tokens issued by the token endpoint, by grant type.",
                 ["grant_type"])
REFRESH_REUSES = Counter("idp_refresh_token_reuses",
                         "Refresh tokens presented again after their rotation (the family "
                         "is revoked).")
SECOND_FACTOR_CHECKS = Counter("idp_second_factor_checks",
                               "Second-factor codes checked at login, by outcome.", ["outcome"])
LOCKOUTS = Counter("idp_login_lockouts",
                   "Identifier and address pairs locked out after too many failures, by "
                   "what failed (login: the password, otp: the second factor's code).",
                   ["space"])
DELIVERIES = Counter("idp_outbox_deliveries",
                     "Outbox delivery attempts (mail, back-channel logout), by outcome.",
                     ["channel", "outcome"])
REQUEST_SECONDS = Histogram("idp_http_request_duration_seconds",
                            "Time to answer an HTTP request, by endpoint.",
                            ["method", "endpoint", "status"])
PASSWORD_HASH_SECONDS = Histogram(
    "idp_password_hash_duration_seconds", "Time to hash or verify a password (argon2id).",
    ["operation"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0))

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Known label values are shown at 0 before their first event.
for _outcome in LOGIN_OUTCOMES:
    LOGINS.labels(_outcome)
for _outcome in SECOND_FACTOR_OUTCOMES:
    SECOND_FACTOR_CHECKS.labels(_outcome)
for _grant_type in GRANT_TYPES:
    TOKENS.labels(_grant_type)


def login(outcome: str) -> None:
    LOGINS.labels(outcome).inc()
    note_outcome(f"login.{outcome}")


def second_factor_check(outcome: str) -> None:
    SECOND_FACTOR_CHECKS.labels(outcome).inc()
    note_outcome(f"second_factor.{outcome}")


def token_issued(grant_type: str) -> None:
    TOKENS.labels(grant_type).inc()
    note_outcome(f"token.{grant_type}")


def refresh_token_reused() -> None:
    REFRESH_REUSES.inc()
    note_outcome("token.refresh_token_reuse")


def lockout(space: str) -> None:
    LOCKOUTS.labels(space).inc()


def outbox_delivery(channel: str, outcome: str) -> None:
    """`outcome`: delivered, failed (tried again later) or abandoned."""
    DELIVERIES.labels(channel, outcome).inc()


def password_hashing(operation: str) -> Any:
    """A context manager timing one hash or verification (`hash`, `verify`)."""
    return PASSWORD_HASH_SECONDS.labels(operation).time()


def request_served(method: str, endpoint: str | None, status: int, seconds: float) -> None:
    # Label values are bounded: a made-up method or address adds no series.
    REQUEST_SECONDS.labels(method if method in _METHODS else "other",
                           endpoint or "unmatched", str(status)).observe(seconds)


class _ThisProcess:
    """The default registry of this process (its counters, and Python's own metrics)."""

    def collect(self) -> Iterable[Any]:
        return REGISTRY.collect()


def exposition(*collectors: Any) -> bytes:
    """The text format of every metric, with `collectors` computed now (at the scrape)."""
    registry = CollectorRegistry()
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_ThisProcess())  # type: ignore[arg-type]
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)
