"""The provider as a relying application sees it: discovery document and signing keys.

Both are fetched over HTTP and cached for the `max-age` the provider sends. When a token
names a key (`kid`) we do not have, the keys are fetched again at once: a key rotation
reaches the application without a restart. That refetch is rate-limited, so a stream of
forged tokens with random `kid`s cannot make us hammer the provider. When the provider
cannot be reached, what is cached keeps serving (stale) rather than failing every login.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from idp.rp.errors import ProviderUnavailable, UnknownKey

DISCOVERY_PATH = "/.well-known/openid-configuration"
DEFAULT_TTL = 300  # when the provider sends no max-age
MAX_TTL = 24 * 3600
UNKNOWN_KID_INTERVAL = 10.0  # at most one refetch of the keys per interval for unknown kids

Key = RSAKey | ECKey
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


def cache_lifetime(cache_control: str | None, default: int = DEFAULT_TTL) -> int:
    """Seconds a response may be reused, from its Cache-Control header."""
    if not cache_control:
        return default
    directives = {d.strip().split("=")[0].lower() for d in cache_control.split(",")}
    if directives & {"no-store", "no-cache"}:
        return 0
    match = _MAX_AGE.search(cache_control)
    return min(int(match.group(1)), MAX_TTL) if match else default


@dataclass
class _Cached:
    value: Any
    expires_at: float


class Provider:
    """Discovery and JWKS of one issuer, cached and thread-safe."""

    def __init__(self, issuer: str, *, timeout: float = 5.0,
                 unknown_kid_interval: float = UNKNOWN_KID_INTERVAL,
                 http: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer  # compared exactly with `iss` and the discovery document
        self.timeout = timeout
        self.unknown_kid_interval = unknown_kid_interval
        self.http = http or requests.Session()
        self.clock = clock
        self.fetches = {"metadata": 0, "jwks": 0}  # for monitoring and tests
        self._lock = threading.Lock()
        self._metadata: _Cached | None = None
        self._jwks: _Cached | None = None
        self._last_unknown_kid_refetch = float("-inf")

    # --- discovery ----------------------------------------------------------------------

    @property
    def metadata(self) -> dict[str, Any]:
        """The discovery document (its `issuer` checked against ours: no mix-up)."""
        with self._lock:
            self._metadata = self._refresh(self._metadata, self._fetch_metadata)
            return self._metadata.value

    def endpoint(self, name: str) -> str | None:
        """An endpoint URL from discovery: `endpoint("token")`, `endpoint("end_session")`."""
        value = self.metadata.get(f"{name}_endpoint")
        return value if isinstance(value, str) else None

    def _fetch_metadata(self) -> tuple[dict[str, Any], int]:
        data, ttl = self._get_json(self.issuer.rstrip("/") + DISCOVERY_PATH, "metadata")
        if data.get("issuer") != self.issuer:
            raise ProviderUnavailable(
                f"discovery document of {self.issuer} names issuer {data.get('issuer')!r}")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(name), str):
                raise ProviderUnavailable(f"discovery document has no {name}")
        return data, ttl

    # --- keys ---------------------------------------------------------------------------

    def keyset(self) -> KeySet:
        """The provider's public signing keys (cached for the JWKS max-age)."""
        jwks_uri = self.metadata["jwks_uri"]
        with self._lock:
            self._jwks = self._refresh(self._jwks, lambda: self._fetch_jwks(jwks_uri))
            return self._jwks.value

    def key_for(self, header: dict[str, Any]) -> Key:
        """The key that signed a token, from its header's `kid` and `alg`.

        An unknown `kid` refetches the keys once (rate-limited) before giving up."""
        key = self._find(self.keyset(), header)
        if key is not None:
            return key
        jwks_uri = self.metadata["jwks_uri"]
        with self._lock:
            now = self.clock()
            if now - self._last_unknown_kid_refetch >= self.unknown_kid_interval:
                self._last_unknown_kid_refetch = now
                # On failure keep the keys we have: the token stays unverified.
                with contextlib.suppress(ProviderUnavailable):
                    self._jwks = _Cached(*self._timed(self._fetch_jwks(jwks_uri)))
            keys = self._jwks.value if self._jwks else KeySet([])
        key = self._find(keys, header)
        if key is None:
            raise UnknownKey(f"no published key matches kid {header.get('kid')!r}")
        return key

    @staticmethod
    def _find(keys: KeySet, header: dict[str, Any]) -> Key | None:
        alg, kid = header.get("alg"), header.get("kid")
        kty = {"RS256": "RSA", "ES256": "EC"}.get(str(alg))
        usable = [k for k in keys.keys if k.key_type == kty
                  and k.get("use", "sig") == "sig" and k.get("alg", alg) == alg]
        if kid is not None:
            return next((k for k in usable if k.kid == kid), None)  # type: ignore[return-value]
        # No kid: acceptable only when a single key could have signed.
        return usable[0] if len(usable) == 1 else None  # type: ignore[return-value]

    def _fetch_jwks(self, jwks_uri: str) -> tuple[KeySet, int]:
        data, ttl = self._get_json(jwks_uri, "jwks")
        members = data.get("keys")
        if not isinstance(members, list):
            raise ProviderUnavailable("the JWKS has no 'keys' list")
        keys = []
        for member in members:
            try:  # a key we cannot read is skipped, not fatal for the others
                keys.append(KeySet.import_key_set({"keys": [member]}).keys[0])
            except (JoseError, ValueError, TypeError, KeyError, IndexError):
                continue
        return KeySet(keys), ttl  # type: ignore[arg-type]

    # --- plumbing -----------------------------------------------------------------------

    def _timed(self, fetched: tuple[Any, int]) -> tuple[Any, float]:
        value, ttl = fetched
        return value, self.clock() + ttl

    def _refresh(self, cached: _Cached | None,
                 fetch: Callable[[], tuple[Any, int]]) -> _Cached:
        if cached is not None and cached.expires_at > self.clock():
            return cached
        try:
            return _Cached(*self._timed(fetch()))
        except ProviderUnavailable:
            if cached is not None:  # serve stale rather than fail; retry in a minute
                cached.expires_at = self.clock() + 60
                return cached
            raise

    def _get_json(self, url: str, what: str) -> tuple[dict[str, Any], int]:
        self.fetches[what] += 1
        try:
            response = self.http.get(url, timeout=self.timeout,
                                     headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"cannot fetch {url}: {exc}") from exc
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"{url} did not return a JSON object")
        return data, cache_lifetime(response.headers.get("Cache-Control"))


_registry: dict[str, Provider] = {}
_registry_lock = threading.Lock()


def provider_for(issuer: str) -> Provider:
    """A process-wide `Provider` per issuer (for `validate_access_token` without Flask)."""
    with _registry_lock:
        if issuer not in _registry:
            _registry[issuer] = Provider(issuer)
        return _registry[issuer]

