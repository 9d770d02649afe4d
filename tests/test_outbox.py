"""The outbox itself, whatever the channel: an item exists only with the change that
causes it, one deliverer sends it however many compete, a dead deliverer's lease expires,
failures wait longer and longer up to a cap, the channel's give-up rule ends the tries,
and what was sent leaves only its record. The mail channel and a real SMTP server stand
in for any channel; time is moved by the `now` of each delivery, never slept."""

from __future__ import annotations

import ast
import asyncio
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select

from idp.cli import cli
from idp.core.audit import AuditEvent
from idp.core.clock import utcnow
from idp.extensions import db
from idp.mail import service as mail
from idp.outbox import delivery
from idp.outbox import service as outbox
from idp.outbox.models import OutboxItem
from idp.outbox.policy import Policy
from tests.support.services import SmtpSink, free_port

AppFactory = Callable[..., Flask]


def smtp(port: int) -> dict[str, Any]:
    return {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_timeout": 5}


def queue_mail(app: Flask, n: int = 0) -> int:
    with app.app_context():
        item = mail.queue(f"personne{n}@example.test", f"Message {n}", "Corps\n")
        db.session.commit()
        return item.id


def item(app: Flask, item_id: int) -> OutboxItem:
    with app.app_context():
        row = db.session.get(OutboxItem, item_id)
        assert row is not None
        db.session.expunge(row)
        return row


def deliver(app: Flask, **kwargs: Any) -> delivery.DeliveryReport:
    with app.app_context():
        return delivery.deliver_due(**kwargs)


@pytest.fixture
def slow_smtp() -> Iterator[tuple[int, list[Any]]]:
    """An SMTP server that takes a while over each mail (a port and what it received)."""
    received: list[Any] = []

    class Slow:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            await asyncio.sleep(0.2)
            received.append(envelope.content)
            return "250 OK"

    controller = Controller(Slow(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, received
    finally:
        controller.stop()


# --- queueing -------------------------------------------------------------------------


def test_an_item_exists_only_if_its_transaction_commits(
    make_app: AppFactory, database_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(database_url, mail=smtp(smtp_sink.port))
    with app.app_context():
        mail.queue("paul.durand@example.test", "Annulé", "Ce courriel n'existe pas.")
        db.session.rollback()
        outbox.send_after_commit()
        assert db.session.scalars(select(OutboxItem)).all() == []

        mail.queue("paul.durand@example.test", "Validé", "Ce courriel existe.")
        db.session.commit()
        outbox.send_after_commit()
    assert outbox.wait_idle(10)
    assert [m["Subject"] for m in smtp_sink.received()] == ["Validé"]


# --- one deliverer per item -----------------------------------------------------------


def test_processes_competing_for_the_same_items_send_each_once(
    make_app: AppFactory, database_url: str, slow_smtp: tuple[int, list[Any]]
) -> None:
    port, received = slow_smtp
    # Two applications, each with its own connection pool: two processes, two threads each.
    hosts = [make_app(database_url, mail=smtp(port)) for _ in range(2)]
    ids = [queue_mail(hosts[0], n) for n in range(4)]
    start = threading.Barrier(4)
    reports: list[delivery.DeliveryReport] = []

    def deliverer(app: Flask) -> None:
        start.wait()
        reports.append(deliver(app, ids=ids))

    threads = [threading.Thread(target=deliverer, args=(app,)) for app in hosts * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(i for r in reports for i in r.delivered) == ids
    assert not any(r.failed for r in reports)
    per_message = Counter(bytes(m).split(b"Message-ID: ")[1].split(b"\r\n")[0]
                          for m in received)
    assert len(per_message) == 4 and set(per_message.values()) == {1}
    assert {item(hosts[1], i).attempts for i in ids} == {1}


def test_an_item_held_by_a_process_that_died_is_taken_over_when_the_lease_ends(
    make_app: AppFactory, database_url: str, smtp_sink: SmtpSink
) -> None:
    first, second = (make_app(database_url, mail=smtp(smtp_sink.port)) for _ in range(2))
    item_id = queue_mail(first)
    claimed_at = utcnow()
    with first.app_context():
        rules = delivery.policy(mail.CHANNEL)
        assert delivery.claim(item_id, rules, claimed_at) is not None  # then it dies

    held = deliver(second, now=claimed_at + rules.lease - timedelta(seconds=1))
    assert held.outcomes == [] and smtp_sink.messages == []
    with second.app_context():
        [waiting] = delivery.pending()
        assert waiting.state(claimed_at) == "sending"

    taken = deliver(second, now=claimed_at + rules.lease)
    assert taken.delivered == [item_id] and len(smtp_sink.messages) == 1
    assert item(second, item_id).attempts == 2


# --- retries and giving up ------------------------------------------------------------


def test_the_delay_between_attempts_doubles_up_to_its_cap(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app = make_app(sqlite_url, mail=smtp(free_port()),  # nothing listens there
                   outbox={"mail_first_retry": 60, "mail_max_retry": 600})
    item_id = queue_mail(app)
    now, delays = utcnow(), []

    for attempt in range(1, 7):
        report = deliver(app, now=now)
        assert list(report.failed) == [item_id] and report.abandoned == []
        waiting = item(app, item_id)
        assert waiting.attempts == attempt and waiting.leased_until is None
        assert waiting.next_attempt_at is not None
        delays.append(waiting.next_attempt_at - now)
        assert deliver(app, now=waiting.next_attempt_at - timedelta(seconds=1)).failed == {}
        now = waiting.next_attempt_at

    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8, 10, 10)]


def test_an_item_is_abandoned_after_the_attempts_its_channel_allows(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app = make_app(sqlite_url, mail=smtp(free_port()),
                   outbox={"mail_give_up_after_attempts": 3, "mail_give_up_after": 0})
    item_id = queue_mail(app)
    now = utcnow()
    for _ in range(2):
        assert deliver(app, now=now).abandoned == []
        now = item(app, item_id).next_attempt_at or now

    report = deliver(app, now=now)

    assert report.abandoned == [item_id] and "Unreachable" in report.failed[item_id]
    given_up = item(app, item_id)
    assert given_up.attempts == 3 and given_up.abandoned_at == now
    assert given_up.next_attempt_at is None and given_up.payload is None
    assert given_up.delivered_at is None and given_up.subject == "Message 0"
    assert deliver(app, now=now + timedelta(days=365)).outcomes == []
    with app.app_context():
        assert delivery.pending_count() == 0
        assert [i.state() for i in delivery.pending()] == ["abandoned"]
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "outbox.abandoned")).all()
        assert event.actor == "system"
        assert event.details["channel"] == "mail" and event.details["item"] == item_id
        assert event.details["recipient"] == "personne0@example.test"
        assert event.details["attempts"] == 3


def test_by_default_a_mail_is_tried_for_three_days(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app = make_app(sqlite_url, mail=smtp(free_port()))
    item_id = queue_mail(app)
    queued = item(app, item_id).created_at

    assert deliver(app, now=queued + timedelta(days=2)).abandoned == []
    # Past the deadline, a due item is still tried once more before it is given up.
    assert deliver(app, now=queued + timedelta(days=3)).abandoned == [item_id]
    assert item(app, item_id).attempts == 2


def test_policies_read_from_the_settings() -> None:
    rules = Policy.of("x", {"x_lease": 30, "x_first_retry": 10, "x_max_retry": 3600,
                            "x_give_up_after_attempts": 0, "x_give_up_after": 0})
    assert rules.lease == timedelta(seconds=30)
    assert [rules.retry_delay(n).total_seconds() for n in (1, 2, 3)] == [10, 20, 40]
    assert rules.retry_delay(10**9) == timedelta(hours=1)  # no overflow, however many
    assert not rules.gives_up(10**9, timedelta(days=10**4))  # 0: no limit


# --- what stays of a delivered item ---------------------------------------------------


def test_a_delivered_item_keeps_its_record_and_loses_its_payload(
    make_app: AppFactory, database_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(database_url, mail=smtp(smtp_sink.port))
    with app.app_context():
        queued = mail.queue("elodie.martin@example.test", "Votre lien",
                            "https://idp.test/secret", html="<a>secret</a>")
        db.session.commit()
        item_id = queued.id

    assert deliver(app).delivered == [item_id]

    sent = item(app, item_id)
    assert sent.payload is None and sent.delivered_at is not None
    assert (sent.channel, sent.recipient, sent.subject) == (
        "mail", "elodie.martin@example.test", "Votre lien")
    with app.app_context():
        stored = db.session.execute(select(OutboxItem.__table__)).one()
    assert not any("secret" in str(value) for value in stored)


# --- the `idp outbox` commands --------------------------------------------------------


def test_outbox_pending_lists_what_is_not_delivered(
    make_app: AppFactory, sqlite_url: str
) -> None:
    app = make_app(sqlite_url, mail=smtp(free_port()),
                   outbox={"mail_give_up_after_attempts": 1})
    abandoned, waiting = queue_mail(app, 1), queue_mail(app, 2)
    deliver(app, ids=[abandoned])
    runner = app.test_cli_runner()

    listed = runner.invoke(cli, ["outbox", "pending", "--channel", "mail", "--json"])

    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["state"], r["attempts"]) for r in rows] == [
        (abandoned, "abandoned", 1), (waiting, "waiting", 0)]
    assert "Unreachable" in rows[0]["last_error"] and rows[0]["next_attempt_at"] is None
    text = runner.invoke(cli, ["outbox", "pending"]).stdout.splitlines()
    assert text[0].startswith(f"#{abandoned} mail personne1@example.test abandoned")
    assert text[1].startswith(f"#{waiting} mail personne2@example.test waiting")

    wrong = runner.invoke(cli, ["outbox", "deliver", "--channel", "pigeon"])
    assert wrong.exit_code == 1 and "Traceback" not in wrong.output
    assert wrong.stderr.strip() == (
        "Error: no channel 'pigeon': choose among backchannel, deferred, mail")


# --- the wall -------------------------------------------------------------------------


def test_the_outbox_imports_no_channel_and_no_domain() -> None:
    """Mail and back-channel logout plug their channels into the outbox, never the other
    way round: the outbox needs only the kernel."""
    package = Path(outbox.__file__).resolve().parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith("idp.") or name.startswith(
                    ("idp.outbox", "idp.core", "idp.extensions")), f"{path.name} imports {name}"
