"""The login of a relying application, step by step, on the server-side session.

1. `begin_login`: an authorization request with state, nonce and PKCE (S256); what the
   callback will need is kept in the session, per state (several tabs may log in).
2. `finish_login`: the callback checks state and `iss`, exchanges the code, validates
   the ID token and the access token, and starts a fresh session (new id).
3. `next_step`: the pairing of the PLAGE identifier with local account(s), the choice of
   the account, then the page the person wanted.

`ensure_fresh` refreshes the access token before it expires (the roles may have changed);
`end_login` ends the local session and returns where to send the browser (the provider's
logout when it has one).
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.base_client.errors import OAuthError
from flask import current_app, request, session, url_for

from idp.rp.errors import InvalidToken, LoginFailed, ProviderUnavailable
from idp.rp.identity import Identity
from idp.rp.pairing import LocalAccount, paired_accounts
from idp.rp.redirects import local_path
from idp.rp.sessions import SESSION_KEY
from idp.rp.state import KitState, kit
from idp.rp.tokens import validate_access_token, validate_id_token

PENDING_KEY = "plage_rp_pending"
CSRF_KEY = "plage_rp_csrf"
PENDING_TTL = 600  # seconds a login may take at the provider
MAX_PENDING = 5
PROMPTS = {"login", "select_account"}
# Claims that describe the token rather than the person: not kept in the session.
TOKEN_CLAIMS = {"iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "azp",
                "jti", "typ"}


def here() -> str:
    """The current page, to come back to after a login."""
    return request.full_path.rstrip("?")


def redirect_uri() -> str:
    return url_for("plage_rp.callback", _external=True)


# --- 1. the authorization request -----------------------------------------------------


def begin_login(next_url: str | None, prompt: str | None = None) -> str:
    """The provider's authorization URL for a new login."""
    state = kit()
    nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    extra = {"prompt": prompt} if prompt in PROMPTS else {}
    with state.oauth(scope=state.setting("SCOPE"), redirect_uri=redirect_uri()) as client:
        url, sent_state = client.create_authorization_url(
            state.provider.endpoint("authorization"), code_verifier=verifier, nonce=nonce,
            **extra)
    pending = {k: v for k, v in (session.get(PENDING_KEY) or {}).items()
               if v["at"] > time.time() - PENDING_TTL}
    pending[sent_state] = {"nonce": nonce, "verifier": verifier, "at": time.time(),
                           "next": local_path(next_url)}
    session[PENDING_KEY] = dict(sorted(pending.items(), key=lambda i: i[1]["at"])
                                [-MAX_PENDING:])
    return url


# --- 2. the callback --------------------------------------------------------------------


def finish_login(args: dict[str, str]) -> None:
    """Check the authorization response, get and validate the tokens, sign in."""
    state = kit()
    pending = dict(session.get(PENDING_KEY) or {})
    attempt = pending.pop(args.get("state") or "", None)
    session[PENDING_KEY] = pending
    if attempt is None or attempt["at"] < time.time() - PENDING_TTL:
        raise LoginFailed("invalid_state", "unknown or expired state")
    iss_expected = "iss" in args or state.provider.metadata.get(
        "authorization_response_iss_parameter_supported")
    if iss_expected and args.get("iss") != state.provider.issuer:  # RFC 9207: no mix-up
        raise LoginFailed("invalid_issuer", f"iss {args.get('iss')!r}")
    if "error" in args:
        raise LoginFailed(args["error"], args.get("error_description", ""))
    if not args.get("code"):
        raise LoginFailed("invalid_request", "no code")
    try:
        with state.oauth(redirect_uri=redirect_uri()) as client:
            tokens = client.fetch_token(
                state.provider.endpoint("token"), grant_type="authorization_code",
                code=args["code"], code_verifier=attempt["verifier"])
    except OAuthError as exc:
        raise LoginFailed(exc.error, exc.description or "") from None
    except (requests.RequestException, ValueError) as exc:
        raise LoginFailed("provider_unavailable", str(exc)) from None
    login = _validated(state, dict(tokens), nonce=attempt["nonce"], previous=None)
    login["next"] = attempt["next"]
    session.regenerate()  # type: ignore[attr-defined]  # a new session id at login
    session.pop(CSRF_KEY, None)  # and a new CSRF token
    session[SESSION_KEY] = login


def _validated(state: KitState, tokens: dict[str, Any], *, nonce: str | None,
               previous: dict[str, Any] | None) -> dict[str, Any]:
    """The session's login from a token response, every token in it validated.

    A refresh response may come without an ID token: the claims then stay those of the
    previous one, with the access token's profile, entity and roles.
    """
    access_token, id_token = tokens.get("access_token"), tokens.get("id_token")
    if not isinstance(access_token, str) or not (
            isinstance(id_token, str) or (previous and id_token is None)):
        raise LoginFailed("invalid_token", "the token response lacks a token")
    leeway, algorithms = state.setting("LEEWAY"), state.setting("ALGORITHMS")
    try:
        access_claims = validate_access_token(
            access_token, state.provider.issuer, state.client_id, provider=state.provider,
            leeway=leeway, algorithms=algorithms)
        id_claims = validate_id_token(
            id_token, state.provider, state.client_id, nonce=nonce,
            access_token=access_token, leeway=leeway, algorithms=algorithms,
        ) if id_token else dict(previous["claims"])  # type: ignore[index]
    except InvalidToken as exc:
        current_app.logger.warning("PLAGE token refused: %s", exc)
        raise LoginFailed("invalid_token", str(exc)) from None
    if access_claims["sub"] != id_claims["sub"] or (
            previous is not None and id_claims["sub"] != previous["sub"]):
        raise LoginFailed("invalid_token", "the tokens are not about the same person")
    claims = {k: v for k, v in id_claims.items() if k not in TOKEN_CLAIMS}
    for name in ("profile", "entity", "roles", "sid"):  # the access token has them too
        if name in access_claims:
            claims[name] = access_claims[name]
    login = dict(previous or {})
    login.update(sub=id_claims["sub"], sid=claims.get("sid"), claims=claims,
                 id_token=id_token or login.get("id_token"), access_token=access_token,
                 refresh_token=tokens.get("refresh_token") or login.get("refresh_token"),
                 expires_at=access_claims["exp"])
    return login


# --- 3. pairing and account choice ----------------------------------------------------


def signed_in() -> dict[str, Any] | None:
    """The session's login, complete or still pairing."""
    return session.get(SESSION_KEY)


def next_step() -> str:
    """Where a signed-in person goes now: pairing, account choice, or the wanted page."""
    state, login = kit(), signed_in()
    if login is None:
        return url_for("plage_rp.login")
    if state.pairing_enabled and not login.get("local_account"):
        accounts = paired_local_accounts(login["sub"])
        if not accounts:
            return url_for("plage_rp.pairing")
        if len(accounts) > 1 or state.setting("ALWAYS_CHOOSE_ACCOUNT"):
            return url_for("plage_rp.choose_account")
        select_account(accounts[0])
    login = signed_in() or {}
    return login.get("next") or state.setting("HOME")


def paired_local_accounts(sub: str) -> list[LocalAccount]:
    """The local accounts paired with `sub` that the application still has."""
    state = kit()
    found = (state.local_account(key) for key in paired_accounts(state.engine, sub))
    return [account for account in found if account is not None]


def select_account(account: LocalAccount) -> None:
    login = dict(signed_in() or {})
    login["local_account"] = account.key
    session[SESSION_KEY] = login


def ready_login() -> dict[str, Any] | None:
    """The login once pairing and account choice are done."""
    login = signed_in()
    if login is None or (kit().pairing_enabled and not login.get("local_account")):
        return None
    return login


def current_identity() -> Identity | None:
    """The signed-in person (after pairing), or None."""
    login = ready_login()
    return Identity(login["claims"]) if login else None


def current_local_account() -> LocalAccount | None:
    """The local account chosen at login (applications with pairing)."""
    login = ready_login()
    if login is None or not login.get("local_account"):
        return None
    return kit().local_account(login["local_account"])


# --- refresh and logout ---------------------------------------------------------------


def ensure_fresh() -> bool:
    """Refresh the access token when it is about to expire; False if the session ended
    (the provider refused the refresh: revoked, logged out)."""
    state, login = kit(), signed_in()
    if login is None:
        return False
    if login["expires_at"] - time.time() > state.setting("REFRESH_MARGIN") \
            or not login.get("refresh_token"):
        return True
    try:
        with state.oauth() as client:
            tokens = client.refresh_token(state.provider.endpoint("token"),
                                          refresh_token=login["refresh_token"])
        session[SESSION_KEY] = _validated(state, dict(tokens), nonce=None, previous=login)
    except (OAuthError, LoginFailed) as exc:
        current_app.logger.info("PLAGE refresh refused, session ended: %s", exc)
        session.clear()
        return False
    except (requests.RequestException, ValueError, ProviderUnavailable) as exc:
        # The provider is unreachable: the local session goes on with what it knows.
        current_app.logger.warning("PLAGE refresh failed: %s", exc)
    return True


def end_login() -> str:
    """End the local session; the URL to send the browser to (the provider's logout)."""
    state, login = kit(), signed_in() or {}
    session.clear()
    done = url_for("plage_rp.logged_out", _external=True)
    try:
        end_session = state.provider.endpoint("end_session")
    except ProviderUnavailable:
        end_session = None
    if not end_session or not login.get("id_token"):
        return done
    query = urlencode({"id_token_hint": login["id_token"], "client_id": state.client_id,
                       "post_logout_redirect_uri": done})
    return f"{end_session}{'&' if '?' in end_session else '?'}{query}"


# --- CSRF for the kit's forms (and the application's, if it wishes) -------------------


def csrf_token() -> str:
    if CSRF_KEY not in session:
        session[CSRF_KEY] = secrets.token_urlsafe(32)
    return session[CSRF_KEY]


def csrf_valid() -> bool:
    sent, expected = request.form.get("csrf_token", ""), session.get(CSRF_KEY, "")
    return bool(expected) and hmac.compare_digest(sent, expected)
