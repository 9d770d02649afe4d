"""Structured logs: one line per request, and every line of a request with its id.

`install()` puts one handler on the root logger, writing to stderr (gunicorn and systemd
collect it) either JSON objects, one a line, or plain text (`logging.format`). The
handler masks secrets in every record that reaches it, whoever made it
(`idp.core.redaction`), and stamps each with the id of the request under way.

The request line (`idp.access`) carries: method, path (never the query string, where a
logout's `id_token_hint` may be), status, duration, the client when one is known, the
outcome and the remote address.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from idp.core.redaction import RedactSecrets, redact
from idp.ops import context

ACCESS = logging.getLogger("idp.access")
_PLAIN = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestId(logging.Filter):
    """Stamps the record with the request's id ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        notes = context.current()
        record.request_id = notes.request_id if notes else "-"
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class PlainLines(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(_PLAIN)

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


class RequestLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is written (as logging's last
    resort does); of its own class, so that another app replaces it rather than adding a
    second."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # StreamHandler's would fix the stream now

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr


def dress(handler: logging.Handler, line_format: str) -> None:
    """Give `handler` the configured line format (`logging.format`), the request id and
    the masking of secrets."""
    handler.setFormatter(JsonLines() if line_format == "json" else PlainLines())
    handler.addFilter(RequestId())
    handler.addFilter(RedactSecrets())


def install(settings: dict[str, Any]) -> None:
    """Log to stderr in the configured format, at the configured level (`[logging]`)."""
    handler = RequestLogHandler()
    dress(handler, settings["format"])
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, RequestLogHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    # The provider's records from the configured level, the libraries' from WARNING (the
    # root logger's default), the request lines whatever the level.
    logging.getLogger("idp").setLevel(settings["level"])
    ACCESS.setLevel(logging.INFO)


def request_line(method: str, path: str, status: int, seconds: float,
                 remote_addr: str | None) -> None:
    notes = context.current()
    fields = {"method": method, "path": path, "status": status,
              "duration_ms": round(seconds * 1000, 1), "remote_addr": remote_addr,
              "client_id": notes.client_id if notes else None,
              "outcome": notes.outcome if notes else None}
    message = f"{method} {path} {status} {fields['duration_ms']}ms"
    if fields["client_id"]:
        message += f" client={fields['client_id']}"
    if fields["outcome"]:
        message += f" outcome={fields['outcome']}"
    ACCESS.info(message, extra={"fields": fields})
