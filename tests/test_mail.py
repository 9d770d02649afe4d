"""Mail through the outbox: a mail is queued with the change that causes it, delivered
through a real SMTP server (or written as an .eml file), kept and retried when the server
is down, and sent once even when several deliverers run at the same time."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import Result
from flask import Flask
from sqlalchemy import select

from idp.cli import cli
from idp.config import DEFAULTS
from idp.core.clock import utcnow
from idp.extensions import db
from idp.mail import service as mail
from idp.outbox import delivery
from idp.outbox.models import OutboxItem
from idp.outbox.policy import Policy
from tests.support.services import SmtpSink, body_of, free_port

AppFactory = Callable[..., Flask]


def smtp_settings(port: int, host: str = "127.0.0.1", **extra: Any) -> dict[str, Any]:
    return {"backend": "smtp", "smtp_host": host, "smtp_port": port, "smtp_timeout": 5,
            **extra}


def queue_one(app: Flask, to: str = "elodie.martin@example.test",
              subject: str = "PLAGE – Essai", body: str = "Bonjour Élodie,\n") -> int:
    with app.app_context():
        message = mail.queue(to, subject, body)
        db.session.commit()
        return message.id


def row(app: Flask, message_id: int) -> OutboxItem:
    with app.app_context():
        message = db.session.get(OutboxItem, message_id)
        assert message is not None
        db.session.expunge(message)
        return message


def deliver(app: Flask, **kwargs: Any) -> delivery.DeliveryReport:
    with app.app_context():
        return delivery.deliver_due(mail.CHANNEL, **kwargs)


def test_a_queued_mail_is_sent_through_smtp_once(
    make_app: AppFactory, database_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(database_url, mail=smtp_settings(smtp_sink.port))
    message_id = queue_one(app)

    report = deliver(app)

    assert report.delivered == [message_id] and report.failed == {}
    [message] = smtp_sink.received()
    assert message["To"] == "elodie.martin@example.test"
    assert message["X-RcptTo"] == "elodie.martin@example.test"  # the envelope too
    assert message["From"] == "PLAGE <ne-pas-repondre@plage.invalid>"
    assert message["Subject"] == "PLAGE – Essai"
    assert message["Auto-Submitted"] == "auto-generated"
    assert body_of(message) == "Bonjour Élodie,\n"
    sent = row(app, message_id)
    assert sent.delivered_at is not None and sent.attempts == 1
    assert sent.next_attempt_at is None and sent.last_error is None
    # Nothing is due any more: a second run sends nothing.
    assert deliver(app).delivered == []
    assert len(smtp_sink.messages) == 1


@pytest.mark.parametrize("address", ["", "sans-arobase", "a@b.test, c@d.test",
                                     "a@b.test\nBcc: c@d.test", "<a@b.test>"])
def test_only_a_single_plain_address_can_be_queued(sqlite_app: Flask, address: str) -> None:
    with pytest.raises(ValueError, match="not a single mail address"):
        mail.queue(address, "Objet", "Corps")


def test_the_file_backend_writes_an_eml_file(make_app: AppFactory, sqlite_url: str,
                                             tmp_path: Path) -> None:
    folder = tmp_path / "courriels"
    app = make_app(sqlite_url, mail={"backend": "file", "directory": str(folder)})
    message_id = queue_one(app, subject="PLAGE – Rappel\nde votre identifiant")

    assert deliver(app).delivered == [message_id]

    [path] = folder.glob("*.eml")
    assert not list(folder.glob("*.tmp"))
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "elodie.martin@example.test"
    assert message["Subject"] == "PLAGE – Rappel de votre identifiant"  # one line
    assert f".{message_id}.outbox@plage.invalid>" in message["Message-ID"]
    assert body_of(message) == "Bonjour Élodie,\n"  # type: ignore[arg-type]
    assert row(app, message_id).delivered_at is not None


def test_a_mail_the_server_cannot_take_now_waits_and_is_sent_later(
    make_app: AppFactory, sqlite_url: str
) -> None:
    port = free_port()  # nothing listens there yet
    app = make_app(sqlite_url, mail=smtp_settings(port))
    first, second, third = (queue_one(app, subject=f"Message {n}") for n in range(3))
    before = utcnow()

    report = deliver(app)

    # The server is unreachable: one message records it, the others are not even tried.
    assert report.delivered == [] and list(report.failed) == [first]
    assert report.left == {"mail": 2}
    failed = row(app, first)
    assert failed.delivered_at is None and failed.attempts == 1
    assert "Unreachable" in (failed.last_error or "")
    assert failed.next_attempt_at is not None
    assert timedelta(seconds=50) < failed.next_attempt_at - before < timedelta(seconds=70)
    assert row(app, second).attempts == 0 and row(app, second).last_error is None
    with app.app_context():
        assert delivery.pending_count() == 3

    sink = SmtpSink.start(port=port)  # the server is back
    try:
        assert sorted(deliver(app).delivered) == [second, third]  # the first waits
        assert deliver(app, now=utcnow() + timedelta(minutes=2)).delivered == [first]
        assert sorted(m["Subject"] for m in sink.received()) == [
            "Message 0", "Message 1", "Message 2"]
    finally:
        sink.stop()
    delivered = row(app, first)
    assert delivered.delivered_at is not None and delivered.attempts == 2
    with app.app_context():
        assert delivery.pending_count() == 0


def test_by_default_the_retry_delay_doubles_up_to_an_hour_for_three_days() -> None:
    rules = Policy.of("mail", DEFAULTS["outbox"])
    delays = [rules.retry_delay(n) for n in range(1, 10)]
    assert delays[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert delays[-1] == timedelta(hours=1) and max(delays) == timedelta(hours=1)
    assert rules.retry_delay(10_000) == timedelta(hours=1)
    # Never given up for a number of attempts, only three days after it was queued.
    assert not rules.gives_up(10_000, timedelta(days=3) - timedelta(seconds=1))
    assert rules.gives_up(1, timedelta(days=3))


def test_a_mail_held_by_a_deliverer_that_died_is_sent_when_its_lease_ends(
    make_app: AppFactory, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(sqlite_url, mail=smtp_settings(smtp_sink.port))
    message_id = queue_one(app)
    with app.app_context():
        rules = delivery.policy(mail.CHANNEL)
        assert delivery.claim(message_id, rules, utcnow()) is not None  # then it dies

    assert deliver(app).delivered == []
    later = utcnow() + rules.lease + timedelta(seconds=1)
    assert deliver(app, now=later).delivered == [message_id]
    assert len(smtp_sink.messages) == 1


def test_concurrent_deliverers_never_send_a_mail_twice(
    make_app: AppFactory, database_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(database_url, mail=smtp_settings(smtp_sink.port))
    with app.app_context():
        for n in range(40):
            mail.queue(f"personne{n}@example.test", f"Message {n}", "Corps")
        db.session.commit()
        ids = list(db.session.scalars(select(OutboxItem.id)))
    start = threading.Barrier(3)
    reports: list[delivery.DeliveryReport] = []

    def deliverer() -> None:
        with app.app_context():
            start.wait()
            reports.append(delivery.deliver_due(limit=100))

    threads = [threading.Thread(target=deliverer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(reports) == 3 and all(not r.failed for r in reports)
    assert sorted(i for r in reports for i in r.delivered) == sorted(ids)
    per_id = Counter(m["Message-ID"] for m in smtp_sink.received())
    assert len(per_id) == 40 and set(per_id.values()) == {1}


def _keep(messages: list[Any]) -> Callable[..., Any]:
    """An aiosmtpd DATA handler that keeps the messages."""
    async def handle_DATA(self: Any, server: Any, session: Any, envelope: Any) -> str:
        messages.append(envelope.content)
        return "250 OK"

    return handle_DATA


def test_smtp_authentication_is_used_when_configured(
    make_app: AppFactory, sqlite_url: str
) -> None:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        logins.append(auth_data.login)
        ok = (auth_data.login, auth_data.password) == (b"plage", b"secret-smtp")
        return AuthResult(success=ok)

    logins: list[bytes] = []

    messages: list[Any] = []
    handler = type("Keep", (), {"handle_DATA": _keep(messages)})()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            authenticator=authenticator, auth_require_tls=False)
    controller.start()
    try:
        good = make_app(sqlite_url, mail=smtp_settings(
            controller.port, smtp_username="plage", smtp_password="secret-smtp"))
        queue_one(good)
        assert len(deliver(good).delivered) == 1 and len(messages) == 1
        assert logins == [b"plage"]

        # Refused credentials: nothing is sent, the mail waits for a corrected setting.
        bad = make_app(sqlite_url, mail=smtp_settings(
            controller.port, smtp_username="plage", smtp_password="faux", smtp_timeout=2))
        message_id = queue_one(bad)
        report = deliver(bad)
        assert report.delivered == [] and "Unreachable" in report.failed[message_id]
        assert len(logins) > 1 and len(messages) == 1
        assert row(bad, message_id).delivered_at is None
    finally:
        controller.stop()


def test_starttls_required_but_not_offered_sends_nothing_in_clear(
    make_app: AppFactory, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(sqlite_url, mail=smtp_settings(smtp_sink.port, smtp_starttls=True))
    message_id = queue_one(app)

    report = deliver(app)

    assert report.delivered == [] and "STARTTLS" in report.failed[message_id]
    assert smtp_sink.messages == []
    assert row(app, message_id).delivered_at is None


# --- command line ---------------------------------------------------------------------


def invoke(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(cli, list(args))


def test_outbox_deliver_sends_the_mail_and_reports_what_it_did(
    make_app: AppFactory, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(sqlite_url, mail=smtp_settings(smtp_sink.port))
    queue_one(app)
    queue_one(app)

    result = invoke(app, "outbox", "deliver", "--channel", "mail", "--limit", "1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {"channels": {"mail": {"delivered": 1, "retry_later": 0, "abandoned": 0,
                                          "left": 0, "pending": 1}},
                    "failures": []}

    result = invoke(app, "outbox", "deliver")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "backchannel: 0 delivered, 0 to retry later, 0 abandoned, 0 left for later, "
        "0 still pending",
        "deferred: 0 delivered, 0 to retry later, 0 abandoned, 0 left for later, "
        "0 still pending",
        "mail: 1 delivered, 0 to retry later, 0 abandoned, 0 left for later, "
        "0 still pending"]
    assert len(smtp_sink.messages) == 2


def test_mail_check_sends_a_test_mail(
    make_app: AppFactory, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(sqlite_url, mail=smtp_settings(smtp_sink.port))

    result = invoke(app, "mail", "check", "--to", "exploitation@example.test")

    assert result.exit_code == 0, result.output
    assert "sent to exploitation@example.test" in result.stdout
    [message] = smtp_sink.received()
    assert message["Subject"] == "PLAGE – Courriel de test"
    assert "exploitation@example.test" in body_of(message)


def test_mail_check_says_why_a_mail_could_not_be_sent_and_keeps_it(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app = make_app(sqlite_url, mail=smtp_settings(free_port()))

    result = invoke(app, "mail", "check", "--to", "exploitation@example.test")

    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert "not sent" in line and "Unreachable" in line and "idp outbox deliver" in line
    with app.app_context():
        assert delivery.pending_count() == 1

    bad = invoke(app, "mail", "check", "--to", "deux@example.test, trois@example.test")
    assert bad.exit_code == 1 and "not a single mail address" in bad.stderr
    assert "Traceback" not in bad.output
