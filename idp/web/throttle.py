"""Throttling: counters of events per subject (an identifier, an address) kept in the
short-lived store, shared by every process. Login failures lock an identifier or an
address out for a while; the account-recovery forms limit the mails one can trigger."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from idp.store import ShortLivedStore


@dataclass(frozen=True)
class Counter:
    """Events per subject, counted from the first one and forgotten `window` s later."""

    store: ShortLivedStore
    name: str
    limit: int
    window: int

    def _key(self, subject: str) -> str:
        return f"{self.name}:{subject}"

    def reached(self, subject: str) -> bool:
        return (self.store.get(self._key(subject)) or 0) >= self.limit

    def hit(self, subject: str) -> int:
        return self.store.incr(self._key(subject), self.window)

    def allow(self, subject: str) -> bool:
        """Count one more event; False once the limit is passed (atomic: no race lets
        concurrent requests through together)."""
        return self.hit(subject) <= self.limit

    def clear(self, subject: str) -> None:
        self.store.delete(self._key(subject))


@dataclass(frozen=True)
class LoginThrottle:
    store: ShortLivedStore
    max_failures: int
    max_failures_per_ip: int
    lockout_seconds: int

    @property
    def _by_identifier(self) -> Counter:
        return Counter(self.store, "login-fail:id", self.max_failures, self.lockout_seconds)

    @property
    def _by_ip(self) -> Counter:
        return Counter(self.store, "login-fail:ip", self.max_failures_per_ip,
                       self.lockout_seconds)

    def locked(self, identifier: str, ip: str) -> bool:
        return self._by_identifier.reached(identifier.strip()) or self._by_ip.reached(ip)

    def failed(self, identifier: str, ip: str) -> None:
        self._by_identifier.hit(identifier.strip())
        self._by_ip.hit(ip)

    def succeeded(self, identifier: str) -> None:
        self._by_identifier.clear(identifier.strip())


def login_throttle() -> LoginThrottle:
    security = current_app.config["IDP"]["security"]
    return LoginThrottle(
        store=current_app.extensions["idp.store"],
        max_failures=security["login_max_failures"],
        max_failures_per_ip=security["login_max_failures_per_ip"],
        lockout_seconds=security["login_lockout_seconds"],
    )
