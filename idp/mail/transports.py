"""How a mail leaves: an SMTP server, or a folder of .eml files in development."""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from idp.outbox.channels import ChannelUnavailable


class Unreachable(ChannelUnavailable):
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

    def _unreachable(self, exc: Exception) -> Unreachable:
        s = self.settings
        return Unreachable(f"{s['smtp_host']}:{s['smtp_port']}: {exc}")

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            s = self.settings
            try:
                smtp = smtplib.SMTP(s["smtp_host"], s["smtp_port"], timeout=s["smtp_timeout"])
            except (OSError, smtplib.SMTPException) as exc:
                raise self._unreachable(exc) from exc
            try:
                if s["smtp_starttls"]:
                    smtp.starttls(context=ssl.create_default_context())
                if s["smtp_username"]:
                    smtp.login(s["smtp_username"], s["smtp_password"])
            except (OSError, smtplib.SMTPException) as exc:
                smtp.close()
                raise self._unreachable(exc) from exc
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
    """The transport the `[mail]` settings choose."""
    if settings["backend"] == "smtp":
        return SmtpTransport(settings)
    return FileTransport(settings["directory"])
