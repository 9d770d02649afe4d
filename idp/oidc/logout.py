"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), and what ending a provider
session means: its grants revoked (offline_access grants outlive it), its clients told
through back-channel logout.

A logout request is *verified* when its `id_token_hint` is an ID token we signed (expired
or not) and nothing in the request contradicts it: `client_id`, if given, is among its
audiences; a `post_logout_redirect_uri` is registered exactly for that client. Only a
verified request may send the browser back to the client (with `state`), and it logs
out without asking when the hint names this browser's session. Anything else asks first
("Voulez-vous vous déconnecter de PLAGE ?", a form with a CSRF token) and ends on our own
page: a forged link can neither log a person out nor redirect them anywhere. A hint
only ever ends the session of the browser that brings it (after asking, when it names
another one), or a session already over elsewhere: an ID token that leaked signs nobody
out. `ui_locales` is accepted; our pages are in French only.

A password reset or change ends the person's other sessions the same way
(`end_account_sessions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from authlib.common.urls import add_params_to_uri
from flask import abort, flash, make_response, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import HiddenField

from idp.clients.models import Client
from idp.consent import service as consent
from idp.core.audit import Actor, record
from idp.directory.models import Account, Profile
from idp.extensions import db
from idp.oidc import backchannel, grants_store
from idp.oidc.id_token_hint import hint_claims
from idp.oidc.server import query_client
from idp.oidc.views import bp
from idp.outbox import service as outbox
from idp.web.access import request_actor
from idp.web.csrf import csrf
from idp.web.forms import Form
from idp.web.session import (
    LoginState,
    current_login,
    end_account_logins,
    end_login,
    provider_session_alive,
)

PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state",
              "logout_hint", "ui_locales")

UNVERIFIED = ("La demande de déconnexion de l'application n'a pas pu être vérifiée : "
              "vous ne serez pas redirigé vers elle.")
UNREGISTERED = ("L'adresse de retour indiquée par l'application n'est pas enregistrée "
                "auprès de PLAGE : vous ne serez pas redirigé vers elle.")


# --- the request ----------------------------------------------------------------------


@dataclass
class LogoutRequest:
    """A logout request as far as we could check it."""

    params: dict[str, str]
    hint: dict[str, Any] | None = None  # claims of a valid id_token_hint
    client: Client | None = None  # the client the hint was issued to
    redirect_uri: str | None = None  # registered for that client, exactly
    warnings: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.hint is not None and not self.warnings

    @property
    def initiator(self) -> str | None:
        return self.client.client_id if self.verified and self.client else None

    def names_session(self, login: LoginState, account: Account | None) -> bool:
        """The request designates this browser's session and person: no need to ask."""
        if not self.verified or account is None:
            return False
        assert self.hint is not None
        return (self.hint["sub"] == account.identifier and self.hint.get("sid") in login.sids
                and self.params.get("logout_hint", account.identifier) == account.identifier)

    def back_to_client(self) -> Response | None:
        if self.redirect_uri is None:
            return None
        state = self.params.get("state")
        target = add_params_to_uri(self.redirect_uri, [("state", state)]) if state \
            else self.redirect_uri
        return redirect(target, code=303)


def read_request(values: Mapping[str, str]) -> LogoutRequest:
    """Check the parameters; what fails is noted as a warning, never raised."""
    req = LogoutRequest(params={k: values[k] for k in PARAMETERS if values.get(k)})
    raw_hint, client_id = req.params.get("id_token_hint"), req.params.get("client_id")
    if raw_hint:
        req.hint = hint_claims(raw_hint, client_id)
        if req.hint is None:
            req.warnings.append(UNVERIFIED)
        else:
            req.client = query_client(client_id or _single_audience(req.hint["aud"]))
    uri = req.params.get("post_logout_redirect_uri")
    if uri:
        if req.hint is None:
            if UNVERIFIED not in req.warnings:
                req.warnings.append(UNVERIFIED)
        elif req.client is None or uri not in req.client.post_logout_redirect_uris:
            req.warnings.append(UNREGISTERED)
        else:
            req.redirect_uri = uri
    return req


def _single_audience(audience: Any) -> str | None:
    if isinstance(audience, str):
        return audience
    return audience[0] if isinstance(audience, list) and len(audience) == 1 else None


# --- ending sessions ------------------------------------------------------------------


def end_provider_session(sid: str, account: Account | None, clients: Iterable[str],
                         actor: Actor, initiator: str | None = None,
                         only_if_live: bool = False, reason: str = "logout") -> bool:
    """End provider session `sid` for the clients that rely on it.

    Its grants are revoked, except offline_access ones; every client of the session (those
    the browser session remembers, and those holding grants made in it) that registered
    a back-channel URI gets a logout token. Part of the caller's transaction: commit, then
    `outbox.send_after_commit()`. With `only_if_live`, a session whose grants are
    all gone already is left alone (a replayed request notifies nobody twice).
    """
    revoked = grants_store.revoke_session_grants(sid, reason)
    if only_if_live and not revoked:
        return False
    informed = list(dict.fromkeys([*clients, *grants_store.session_client_ids(sid)]))
    queued = backchannel.queue(informed, sid, account.identifier if account else None)
    record(actor, "logout", target=account, sid=sid, initiator=initiator, clients=informed,
           revoked_grants=len(revoked), backchannel=queued, reason=reason)
    return True


def end_browser_login(login: LoginState, account: Account | None, actor: Actor,
                      initiator: str | None = None, reason: str = "logout") -> None:
    """End the provider sessions a browser's login stands for: its own, and those of the
    person's earlier logins in that browser that still have grants."""
    end_provider_session(login.sid, account, login.clients, actor, initiator, reason=reason)
    for sid in login.earlier_sids:
        end_provider_session(sid, account, [], actor, initiator, only_if_live=True,
                             reason=reason)


def end_account_sessions(account: Account, actor: Actor, reason: str,
                         keep_current: bool = False) -> None:
    """After a password reset or change: end the person's sessions, every one or all but
    this browser's (`keep_current`).

    The browsers signed in elsewhere are signed out, the grants made in any other
    provider session of the person revoked (offline_access ones excepted: they were
    given to outlive sessions), and their applications told by back-channel. Part of the
    caller's transaction: commit, then `outbox.send_after_commit()`.
    """
    current = current_login()
    ended = end_account_logins(account.id, keep_current)
    for login in ended:
        end_browser_login(login, account, actor, reason=reason)
    done = {sid for login in ended for sid in login.sids}
    if keep_current and current is not None:
        done.update(current.sids)
    for sid in sorted(grants_store.online_sids(account.id) - done):
        end_provider_session(sid, account, [], actor, reason=reason)


def end_closed_account(account: Account, actor: Actor, reason: str) -> None:
    """An account closes (merged into another): its browsers are signed out and every
    grant made to it ends, offline ones too, its applications told by back-channel.
    Part of the caller's transaction: commit, then `outbox.send_after_commit()`."""
    end_account_sessions(account, actor, reason)
    offline = grants_store.revoke_account_grants(account.id, reason)
    for sid, client_id in sorted({(g.sid, g.client_id) for g in offline if g.sid}):
        backchannel.queue([client_id], sid, account.identifier)


def withdraw_consent(account: Account, client_id: str, actor: Actor) -> bool:
    """Withdraw a person's consent to a client, and with it the client's access.

    Every grant to that client is revoked, offline ones too (the consent page promised
    as much), and the client is told by back-channel to end the sessions they came
    from. False if there was no consent. The caller commits, then calls
    `outbox.send_after_commit()`.
    """
    if not consent.withdraw(account.id, client_id, actor):
        return False
    revoked = grants_store.revoke_client_grants(account.id, client_id, "consent_withdrawn")
    for sid in sorted({grant.sid for grant in revoked if grant.sid}):
        backchannel.queue([client_id], sid, account.identifier)
    return True


def end_profile_grants(profile: Profile, actor: Actor) -> None:
    """A profile deactivated by an administrator (`idp.directory.events`): every grant
    made with it is revoked, offline ones too, which ends its refresh and access
    tokens, and each client is told by back-channel to end the sessions they came from.
    Part of the caller's transaction: commit, then `outbox.send_after_commit()`."""
    revoked = grants_store.revoke_profile_grants(profile.id, "profile_deactivated")
    for client_id, sid in sorted({(g.client_id, g.sid) for g in revoked if g.sid}):
        backchannel.queue([client_id], sid, profile.account.identifier)
    record(actor, "profile.grants_revoked", target=profile, entity_id=profile.entity_id,
           revoked_grants=len(revoked))


# --- the endpoint ---------------------------------------------------------------------


class LogoutForm(Form):
    """The confirmation: the client's parameters ride along, the button pressed decides."""

    id_token_hint = HiddenField()
    client_id = HiddenField()
    post_logout_redirect_uri = HiddenField()
    state = HiddenField()
    logout_hint = HiddenField()
    ui_locales = HiddenField()


@bp.route("/logout", methods=["GET", "POST"], endpoint="end_session")
@csrf.exempt  # the client's request; our confirmation form checks its own token
def logout_endpoint() -> Response:
    if request.method == "POST" and "decision" in request.form:
        return _decided()
    req = read_request(request.values)
    login = current_login()
    if login is None:
        return _without_browser_session(req)
    account = db.session.get(Account, login.account_id)
    if req.names_session(login, account):
        return _log_out(login, account, req)
    return _no_store(make_response(render_template(
        "oidc/logout_confirm.html", form=LogoutForm(formdata=None, data=req.params),
        client=req.client if req.verified else None, warnings=req.warnings)))


def _decided() -> Response:
    """The person answered the confirmation page."""
    form = LogoutForm()
    login = current_login()
    if not form.validate_on_submit():
        if login is None:  # nothing left to end (logged out in another tab, expired...)
            return _finished(LogoutRequest(params={}))
        abort(400, "Le formulaire de déconnexion a expiré : rechargez la page.")
    if request.form["decision"] != "logout":
        flash("Vous êtes toujours connecté à PLAGE.", "success")
        return redirect(url_for("selfservice.home"))
    req = read_request(request.form)
    if login is None:
        return _finished(req)
    return _log_out(login, db.session.get(Account, login.account_id), req)


def _log_out(login: LoginState, account: Account | None, req: LogoutRequest) -> Response:
    end_browser_login(login, account, request_actor(account), req.initiator)
    end_login()
    db.session.commit()
    outbox.send_after_commit()
    return _finished(req)


def _without_browser_session(req: LogoutRequest) -> Response:
    """Nothing to end in this browser. A verified hint may name a session that ended
    meanwhile (its lifetime or idle timeout ran out) while the client's own session
    lived on: its grants are revoked and its other applications told. A session alive
    in another browser is left alone: whoever holds an ID token is not its owner."""
    sid = req.hint.get("sid") if req.verified and req.hint else None
    if sid and req.hint and not provider_session_alive(sid):
        account = db.session.scalar(select(Account).where(Account.identifier == req.hint["sub"]))
        if end_provider_session(sid, account, [], request_actor(account), req.initiator,
                                only_if_live=True):
            db.session.commit()
            outbox.send_after_commit()
    return _finished(req)


def _finished(req: LogoutRequest) -> Response:
    response = req.back_to_client() or make_response(
        render_template("oidc/logged_out.html", warnings=req.warnings))
    return _no_store(response)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
