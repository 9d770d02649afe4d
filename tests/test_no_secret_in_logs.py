"""No secret in the logs, even at DEBUG: a whole day of a person and an application —
login, consent, code, tokens, refresh, userinfo, logout by an ID token hint in the
address, a password reset by mail — with the loggers of the provider, werkzeug (the
served requests), SQLAlchemy and Authlib at DEBUG, then every secret of the day is looked
for in what they wrote.

Also: the reset code is never in an address the server sees (the link carries it after
"#", and a real browser brings the person from the link to the new password).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from idp.core.redaction import MASK, redact
from idp.directory import services
from idp.outbox import service as outbox
from tests.support.directory import PASSWORD
from tests.support.html import csrf_token
from tests.support.oidc import Browser, Provider, Serve, tdbesms_applications
from tests.support.services import SmtpSink, body_of

LOGGERS = ("idp", "werkzeug", "sqlalchemy", "authlib")
NEW_PASSWORD = "Nouveau-secret-2027!"
RESET = "/compte/mot-de-passe-oublie/nouveau"
LINK = re.compile(r"(http://\S+/compte/mot-de-passe-oublie/nouveau)#([A-Za-z0-9_-]+)")


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    """Capture the four families of loggers at DEBUG; returns what they wrote."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)

    def written() -> list[str]:
        return [caplog.handler.format(r) for r in caplog.records
                if r.name.split(".")[0] in LOGGERS]

    yield written


@pytest.fixture
def op(serve: Serve, sqlite_url: str, smtp_sink: SmtpSink) -> Provider:
    return serve(sqlite_url, mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                                   "smtp_port": smtp_sink.port})


def reset_link(sink: SmtpSink) -> tuple[str, str]:
    """The page address and the code of the reset link in the last mail."""
    match = LINK.search(body_of(sink.received()[-1]))
    assert match, "no reset link in the mail"
    return match.group(1), match.group(2)


def test_a_whole_flow_leaves_no_secret_in_the_debug_logs(
        op: Provider, smtp_sink: SmtpSink, debug_logs: Callable[[], list[str]]) -> None:
    apps = tdbesms_applications(op, first_party=False)  # a consent page on the way
    rp = apps.tdb
    email = op.run(lambda: services.get_account(apps.identifier).email)
    browser = Browser(op)
    secrets = {PASSWORD, NEW_PASSWORD, rp.client_secret or ""}
    cookies: set[str] = set()

    def keep_cookie() -> None:
        cookies.update(c.value for c in browser.http.cookies if c.value)

    browser.sign_in(apps.identifier)
    keep_cookie()
    request = rp.begin(scope="openid profile email")
    code = rp.code_from(request, browser.authorize(request.url))
    secrets |= {code, request.code_verifier or ""}
    tokens = rp.exchange(request, code)
    refreshed = rp.refresh(tokens.refresh_token or "")
    assert rp.userinfo(refreshed.access_token).status_code == 200
    for issued in (tokens, refreshed):
        secrets.update(issued.raw[name] for name in ("access_token", "refresh_token", "id_token"))
    keep_cookie()
    # The way most applications do it: the ID token in the address of a GET.
    logout = browser.end_session(id_token_hint=refreshed.id_token,
                                 post_logout_redirect_uri=rp.post_logout_redirect_uri or "")
    assert logout.status == 303
    keep_cookie()

    form = browser.get("/compte/mot-de-passe-oublie")
    browser.post("/compte/mot-de-passe-oublie", {"csrf_token": csrf_token(form.html),
                                                "identifier": apps.identifier,
                                                "email": email})
    assert outbox.wait_idle(10)
    _address, reset_code = reset_link(smtp_sink)
    secrets.add(reset_code)
    page = browser.get(RESET)
    chosen = browser.post(RESET, {"csrf_token": csrf_token(page.html), "code": reset_code})
    done = browser.post_form(chosen, "password", password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert done.status == 302
    keep_cookie()
    secrets |= cookies

    logs = "\n".join(debug_logs())
    # The loggers did speak: the request lines, Authlib's tokens, SQLAlchemy's queries.
    assert "GET /logout?id_token_hint=" + MASK in logs
    assert "Issue token" in logs and "SELECT" in logs
    leaked = sorted(name for name, value in _named(secrets).items() if value in logs)
    assert leaked == []
    # Not even the claims of an ID token (its middle part).
    assert refreshed.id_token.split(".")[1] not in logs


def _named(secrets: set[str]) -> dict[str, str]:
    return {f"{value[:6]}…({len(value)})": value for value in secrets}


def test_the_reset_code_never_reaches_the_server_in_an_address(
        op: Provider, smtp_sink: SmtpSink, debug_logs: Callable[[], list[str]],
        page: Any, screenshot: Any) -> None:
    """A real browser opens the link: the page's script takes the code from after "#",
    posts it and clears it from the address bar; the person chooses a password."""
    apps = tdbesms_applications(op)
    email = op.run(lambda: services.get_account(apps.identifier).email)
    browser = Browser(op)
    form = browser.get("/compte/mot-de-passe-oublie")
    browser.post("/compte/mot-de-passe-oublie", {"csrf_token": csrf_token(form.html),
                                                "identifier": apps.identifier,
                                                "email": email})
    assert outbox.wait_idle(10)
    address, code = reset_link(smtp_sink)

    assert address.startswith(op.issuer + "/")  # the served provider's own address
    page.goto(f"{address}#{code}")
    page.get_by_label("Nouveau mot de passe", exact=False).first.wait_for()
    assert apps.identifier in page.inner_text("main")
    assert code not in page.url
    screenshot(page, "reset-password")
    page.get_by_label("Nouveau mot de passe *", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirmation du nouveau mot de passe").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    page.get_by_text("Votre mot de passe a été modifié").wait_for()

    requested = [line for line in debug_logs() if "mot-de-passe-oublie" in line]
    assert requested and not any(code in line for line in requested)
    assert op.run(lambda: services.authenticate(apps.identifier, NEW_PASSWORD)) is not None


def test_without_scripts_the_code_is_pasted(op: Provider, smtp_sink: SmtpSink) -> None:
    page = Browser(op).get(RESET)
    assert page.status == 200
    assert '<label for="code">Code reçu par courriel' in page.html
    assert "Collez ci-dessous le code indiqué dans le courriel" in page.html
    assert 'autocomplete="one-time-code"' in page.html


@pytest.mark.parametrize(("line", "kept"), [
    ('"GET /logout?state=s&id_token_hint=eyJh.eyJz.c2ln HTTP/1.1" 303 -', "state=s&"),
    ("Issue token {'access_token': 'eyJh.eyJz.c2ln', 'token_type': 'Bearer', "
     "'refresh_token': 'Zm9vYmFy-_'} to <Client tdb>", "'token_type': 'Bearer'"),
    ('{"code": "c0d3", "client_secret": "s3cr3t", "scope": "openid"}', '"scope": "openid"'),
])
def test_secret_values_are_masked_and_the_rest_kept(line: str, kept: str) -> None:
    masked = redact(line)
    assert not any(s in masked for s in ("eyJh", "Zm9vYmFy", "c0d3", "s3cr3t"))
    assert kept in masked and MASK in masked
