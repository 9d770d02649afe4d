"""Login throttling: too many failures for an identifier or from an address lock them out
for a while (counters in the short-lived store, shared by every process)."""

from __future__ import annotations

from dataclasses import dataclass

from idp.store import ShortLivedStore


@dataclass(frozen=True)
class LoginThrottle:
    store: ShortLivedStore
    max_failures: int
    max_failures_per_ip: int
    lockout_seconds: int

    def _keys(self, identifier: str, ip: str) -> tuple[str, str]:
        return f"login-fail:id:{identifier.strip()}", f"login-fail:ip:{ip}"

    def locked(self, identifier: str, ip: str) -> bool:
        by_id, by_ip = self._keys(identifier, ip)
        return (self.store.get(by_id) or 0) >= self.max_failures or (
            self.store.get(by_ip) or 0
        ) >= self.max_failures_per_ip

    def failed(self, identifier: str, ip: str) -> None:
        for key in self._keys(identifier, ip):
            self.store.incr(key, self.lockout_seconds)

    def succeeded(self, identifier: str) -> None:
        self.store.delete(self._keys(identifier, "")[0])
