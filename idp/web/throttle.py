"""Throttling: counters of events per subject (an identifier, an address) kept in the
short-lived store, shared by every process: the login's brute-force rules
(`LoginThrottle`) and the limits of the pages that work by mail (`Counter`)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request

from idp.core.errors import NotFound
from idp.directory import services
from idp.mail import service as mail
from idp.ops import metrics
from idp.store import ShortLivedStore
from idp.web.redirects import public_url


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
class Refusal:
    """Why a login attempt is not checked, and for how long (seconds)."""

    reason: str  # "locked" (this identifier from this address) or "slowed"
    seconds: int


@dataclass(frozen=True)
class LoginThrottle:
    """Brute-force rules of the login (OWASP ASVS 5.0 §6.3, after Keycloak's detector).

    - Identifier and address together: every attempt is counted *before* the password
      is checked (one atomic increment), so parallel guesses cannot slip past the limit;
      past `max_failures` attempts without a success, the pair is locked out for
      `lockout_seconds`, the right password included. A success clears the count.
    - Identifier across addresses: past `max_failures`, attempts are spaced by a delay
      that doubles from `first_delay` up to `max_delay` (one attempt per delay, taken
      atomically): a distributed guesser gets few tries, the holder waits at most
      `max_delay` and is told by mail (`failed` says when).
    - Address: failures of made-up or wrong identifiers from one address (a hospital
      behind one NAT) past `max_failures_per_ip` make each *failure* close the address
      for a growing delay; a real user is slowed, never locked.
    Made-up and real identifiers are treated alike, so answers reveal nothing.
    The second factor's codes follow the same rules in a key space of their own
    (`space`): a wrong code does not count against the password, nor the reverse.
    """

    store: ShortLivedStore
    max_failures: int
    max_failures_per_ip: int
    lockout_seconds: int
    first_delay: int
    max_delay: int
    space: str = "login"

    def _delay(self, excess: int) -> int:
        return min(self.max_delay, self.first_delay * 2 ** min(max(excess - 1, 0), 20))

    def _keys(self, identifier: str, ip: str) -> tuple[str, str, str]:
        identifier = identifier.strip()
        return (f"{self.space}:pair:{identifier}:{ip}", f"{self.space}:id:{identifier}",
                f"{self.space}:ip:{ip}")

    def admit(self, identifier: str, ip: str) -> Refusal | None:
        """Count this attempt; None if its password may be checked."""
        pair, by_id, by_ip = self._keys(identifier, ip)
        on_pair = self.store.incr(pair, self.lockout_seconds)
        if on_pair > self.max_failures:
            if on_pair == self.max_failures + 1:  # the first attempt the lockout refuses
                metrics.lockout(self.space)
            return Refusal("locked", self.lockout_seconds)
        attempts = self.store.incr(by_id, self.lockout_seconds)
        if attempts > self.max_failures:
            delay = self._delay(attempts - self.max_failures)
            if not self.store.add(f"{by_id}:gate", 1, delay):
                return Refusal("slowed", delay)
        if self.store.get(f"{by_ip}:gate"):
            failures = self.store.get(by_ip) or 0
            return Refusal("slowed", self._delay(failures - self.max_failures_per_ip))
        return None

    def failed(self, identifier: str, ip: str) -> bool:
        """Record a wrong password; True the first time (per lockout period) the
        identifier passes its limit: time to warn the account holder."""
        _, by_id, by_ip = self._keys(identifier, ip)
        failures = self.store.incr(by_ip, self.lockout_seconds)
        if failures > self.max_failures_per_ip:
            self.store.put(f"{by_ip}:gate", 1,
                           self._delay(failures - self.max_failures_per_ip))
        return ((self.store.get(by_id) or 0) >= self.max_failures
                and self.store.add(f"{by_id}:warned", 1, self.lockout_seconds))

    def succeeded(self, identifier: str, ip: str) -> None:
        """The holder proved who he is (a login, a password reset): lift his limits."""
        pair, by_id, _ = self._keys(identifier, ip)
        for key in (pair, by_id, f"{by_id}:gate"):
            self.store.delete(key)


def login_throttle(space: str = "login") -> LoginThrottle:
    """The brute-force rules of the password (`login`) or of the second factor (`otp`)."""
    security = current_app.config["IDP"]["security"]
    return LoginThrottle(
        store=current_app.extensions["idp.store"],
        max_failures=security["login_max_failures"],
        max_failures_per_ip=security["login_max_failures_per_ip"],
        lockout_seconds=security["login_lockout_seconds"],
        first_delay=security["login_first_delay_seconds"],
        max_delay=security["login_max_delay_seconds"],
        space=space,
    )


def anonymous_requests(name: str) -> Counter:
    """The limit, per subject of a kind `name` (an address, an identifier, a name), on
    what the pages that work by mail do: the mails they send someone (a reminder, a
    reset link, a duplicate notice), the account requests they file."""
    security = current_app.config["IDP"]["security"]
    return Counter(current_app.extensions["idp.store"], f"mail-request:{name}",
                   security["recovery_max_requests"], security["recovery_window_seconds"])


def address_allowed() -> bool:
    """Count one submission of an anonymous mailing page against the client's address;
    False past the limit."""
    security = current_app.config["IDP"]["security"]
    return Counter(current_app.extensions["idp.store"], "mail-request:ip",
                   security["recovery_max_requests_per_ip"],
                   security["recovery_window_seconds"]).allow(request.remote_addr or "unknown")


def too_many_requests() -> str:
    """What those pages answer past a limit."""
    minutes = max(1, current_app.config["IDP"]["security"]["recovery_window_seconds"] // 60)
    return (f"Trop de demandes en peu de temps. Pour votre sécurité, réessayez dans "
            f"{minutes} minutes.")


def warn_holder(identifier: str) -> None:
    """Tell an account holder that someone keeps failing to sign in as him, when
    `LoginThrottle.failed` says it is time (queued in the caller's transaction; nothing
    is said on screen, whether the account exists or not)."""
    try:
        account = services.get_account(identifier)
    except NotFound:
        return
    if account.email:
        mail.queue_template(account.email, "login_failures", name=account.full_name,
                            attempts=current_app.config["IDP"]["security"]["login_max_failures"],
                            reset_url=public_url("selfservice.forgot_password"))
