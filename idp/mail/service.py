"""Queueing and delivering mail through the outbox.

`queue()` adds a mail to the caller's transaction: it exists if and only if the change
that causes it is committed. `deliver_due()` sends what is due through the configured
backend. Several processes may deliver at once: each message is first claimed by one
conditional UPDATE that pushes its `next_attempt_at` forward by a lease, so one of them
sends it. A failure schedules a retry with a growing delay; a mail is never dropped. A
claim without an outcome (process killed while sending) expires with its lease and the
mail is tried again: delivery is at least once.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
import threading
import weakref
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import Row, func, inspect, select, update

from idp.core.clock import utcnow
from idp.extensions import db
from idp.mail.models import OutboxMessage

logger = logging.getLogger(__name__)
# Failures are reported to the caller too: print them only where logging is configured
# (the app's logger, gunicorn), never on a command's stderr by Python's last resort.
logger.addHandler(logging.NullHandler())

LEASE = timedelta(minutes=10)  # far longer than a send (smtp_timeout is per operation)
FIRST_RETRY = timedelta(minutes=1)  # then doubled at every failure...
MAX_RETRY = timedelta(hours=1)  # ...up to this
_PENDING = "idp.mail.pending"  # db.session.info key: the mails queued in this transaction
_outbox = OutboxMessage.__table__
_background: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


# --- queueing -------------------------------------------------------------------------


def queue(to: str, subject: str, body: str, html: str | None = None) -> OutboxMessage:
    """Add a mail to the current transaction; the caller commits it with its change."""
    to = to.strip()
    if to.count("@") != 1 or any(c.isspace() or c in ",;<>\"" for c in to):
        raise ValueError(f"not a single mail address: {to!r}")
    message = OutboxMessage(recipient=to, subject=" ".join(subject.split()), body=body,
                            html=html, attempts=0, next_attempt_at=utcnow())
    db.session.add(message)
    db.session.info.setdefault(_PENDING, []).append(message)
    return message


def render(template: str, **context: Any) -> tuple[str, str]:
    """(subject, body) from templates/mail/<template>.txt: the subject is the first line,
    the body follows a blank line."""
    text = current_app.jinja_env.get_template(f"mail/{template}.txt").render(**context)
    subject, _, body = text.strip().partition("\n\n")
    body = re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", body.strip())
    return subject.strip(), body + "\n"


def queue_template(to: str, template: str, **context: Any) -> OutboxMessage:
    """Queue the mail written by templates/mail/<template>.txt."""
    subject, body = render(template, **context)
    return queue(to, subject, body)


def send_after_commit() -> threading.Thread | None:
    """Start sending, in a background thread, the mails queued by the transaction just
    committed; the response does not wait. What fails stays in the outbox for the next
    `idp mail deliver`. Call it right after `db.session.commit()`."""
    pending = db.session.info.pop(_PENDING, [])
    # Committed rows are persistent; those of a rolled-back transaction are not.
    ids = [inspect(m).identity[0] for m in pending if inspect(m).persistent]
    if not ids:
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    thread = threading.Thread(target=_deliver_in_background, args=(app, ids),
                              name="idp-mail", daemon=True)
    _background.add(thread)
    thread.start()
    return thread


def _deliver_in_background(app: Any, ids: list[int]) -> None:
    with app.app_context():
        deliver_due(limit=len(ids), ids=ids)


def wait_for_background(timeout: float = 30.0) -> None:
    """Let the background sends of this process finish (at shutdown, in tests)."""
    for thread in list(_background):
        thread.join(timeout)


# --- delivering -----------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # id -> error
    # Due but not tried: another deliverer holds them, or the server was unreachable.
    left: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"sent": len(self.sent), "failed": len(self.failed), "left": self.left,
                "errors": {str(k): v for k, v in self.failed.items()}}


class Unreachable(Exception):
    """The mail server cannot be reached: no use trying the next mails now."""


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class FileTransport:
    """Development: every mail becomes an .eml file, named after its Message-ID."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]", "_", str(message["Message-ID"]).strip("<>").split("@")[0])
        fd, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as file:
            file.write(bytes(message))
        os.replace(temporary, self.directory / f"{name}.eml")

    def close(self) -> None:
        pass


class SmtpTransport:
    """One connection for a batch, opened at the first mail (STARTTLS, login if set)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            s = self.settings
            try:
                smtp = smtplib.SMTP(s["smtp_host"], s["smtp_port"], timeout=s["smtp_timeout"])
            except (OSError, smtplib.SMTPException) as exc:
                raise Unreachable(f"{s['smtp_host']}:{s['smtp_port']}: {exc}") from exc
            try:
                if s["smtp_starttls"]:
                    smtp.starttls(context=ssl.create_default_context())
                if s["smtp_username"]:
                    smtp.login(s["smtp_username"], s["smtp_password"])
            except (OSError, smtplib.SMTPException) as exc:
                smtp.close()
                raise Unreachable(f"{s['smtp_host']}:{s['smtp_port']}: {exc}") from exc
            self._smtp = smtp
        return self._smtp

    def send(self, message: EmailMessage) -> None:
        smtp = self._connection()
        try:
            smtp.send_message(message)
        except (smtplib.SMTPServerDisconnected, OSError):
            self._smtp = None
            smtp.close()
            raise

    def close(self) -> None:
        if self._smtp is not None:
            smtp, self._smtp = self._smtp, None
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def transport(settings: dict[str, Any]) -> Transport:
    if settings["backend"] == "smtp":
        return SmtpTransport(settings)
    return FileTransport(settings["directory"])


def email_message(row: Row[Any], sender: str) -> EmailMessage:
    """The MIME message of an outbox row (the same Message-ID at every attempt)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "plage.invalid"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at)
    message["Message-ID"] = f"<{row.created_at:%Y%m%d%H%M%S}.{row.id}.outbox@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.body)
    if row.html:
        message.add_alternative(row.html, subtype="html")
    return message


def retry_delay(attempts: int) -> timedelta:
    """1 min after the first failure, doubled each time, at most MAX_RETRY."""
    return min(FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16), MAX_RETRY)


def _due(now: datetime) -> Any:
    return (_outbox.c.sent_at.is_(None)) & (_outbox.c.next_attempt_at <= now)


def _claim(message_id: int, now: datetime) -> Row[Any] | None:
    """Take the message for one lease if it is still due; None if someone else has it."""
    with db.engine.begin() as conn:
        claimed = conn.execute(
            update(_outbox)
            .where(_outbox.c.id == message_id, _due(now))
            .values(next_attempt_at=now + LEASE, attempts=_outbox.c.attempts + 1)
        ).rowcount
        if claimed != 1:
            return None
        return conn.execute(select(_outbox).where(_outbox.c.id == message_id)).one()


def _settle(row: Row[Any], now: datetime, error: str | None) -> None:
    with db.engine.begin() as conn:
        if error is None:
            conn.execute(update(_outbox).where(_outbox.c.id == row.id)
                         .values(sent_at=now, next_attempt_at=None))
        else:
            # Only if our claim is still the latest one (not re-claimed after our lease).
            conn.execute(update(_outbox)
                         .where(_outbox.c.id == row.id, _outbox.c.sent_at.is_(None),
                                _outbox.c.attempts == row.attempts)
                         .values(next_attempt_at=now + retry_delay(row.attempts),
                                 last_error=error[:2000]))


def deliver_due(limit: int = 100, *, ids: Collection[int] | None = None,
                now: datetime | None = None) -> DeliveryReport:
    """Send up to `limit` due messages (only `ids` if given); never raises.

    `now` fixes the clock (to deliver what a later run would). Every outcome is recorded
    in the outbox; the report says what this call did.
    """
    report = DeliveryReport()
    try:
        _deliver(limit, ids, now, report)
    except Exception:
        logger.exception("mail delivery interrupted")
    return report


def _deliver(limit: int, ids: Collection[int] | None, now: datetime | None,
             report: DeliveryReport) -> None:
    def clock() -> datetime:
        return now or utcnow()

    settings = current_app.config["IDP"]["mail"]
    query = select(_outbox.c.id).where(_due(clock()))
    if ids is not None:
        query = query.where(_outbox.c.id.in_(list(ids)))
    with db.engine.connect() as conn:
        candidates = conn.scalars(
            query.order_by(_outbox.c.next_attempt_at, _outbox.c.id).limit(limit)
        ).all()
    sender = transport(settings)
    try:
        for position, message_id in enumerate(candidates):
            row = _claim(message_id, clock())
            if row is None:
                report.left += 1
                continue
            try:
                sender.send(email_message(row, settings["sender"]))
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                logger.warning("mail %s to %s not sent: %s", row.id, row.recipient, error)
                _settle(row, clock(), error)
                report.failed[row.id] = error
                if isinstance(exc, Unreachable):
                    report.left += len(candidates) - position - 1
                    break
            else:
                _settle(row, clock(), None)
                report.sent.append(row.id)
    finally:
        sender.close()


def pending_count() -> int:
    """Messages not sent yet (due now or waiting for a retry)."""
    with db.engine.connect() as conn:
        return conn.scalar(
            select(func.count()).select_from(_outbox).where(_outbox.c.sent_at.is_(None))
        ) or 0
