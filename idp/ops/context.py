"""What the request log knows of the request under way: its id, its client, its outcome.

The request id comes from the `X-Request-Id` header when it is a plain token (a load
balancer or a relying application may set one to follow a request across systems), or
is made here; it is echoed in the response and written on every log line of the request.
"""

from __future__ import annotations

import re
import uuid

from flask import g, has_request_context

HEADER = "X-Request-Id"
# Letters, digits and a few separators, bounded: it is written verbatim in every line.
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ATTRIBUTE = "ops_request"


class RequestNotes:
    """Set at the start of a request, completed by the code that handles it."""

    def __init__(self, request_id: str, started: float) -> None:
        self.request_id = request_id
        self.started = started
        self.client_id: str | None = None
        self.outcome: str | None = None
        self.logged = True  # a successful answer gets a request line


def request_id_from(header: str | None) -> str:
    """The caller's id if it is acceptable, else a new one."""
    if header and _ACCEPTED_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def begin(request_id: str, started: float) -> RequestNotes:
    notes = RequestNotes(request_id, started)
    setattr(g, _ATTRIBUTE, notes)
    return notes


def current() -> RequestNotes | None:
    """The notes of the request under way; None outside a request (a command, a
    background send) or before it began."""
    return getattr(g, _ATTRIBUTE, None) if has_request_context() else None


def note_outcome(outcome: str) -> None:
    """What the request achieved in the domain's words (`login.success`, `token.refresh_token`)."""
    notes = current()
    if notes is not None:
        notes.outcome = outcome


def note_client(client_id: str) -> None:
    notes = current()
    if notes is not None:
        notes.client_id = client_id


def not_logged() -> None:
    """No request line for this request if it succeeds (a public document: the same for
    everyone, fetched by every application and proxy, it tells the log nothing); it is
    still counted in the metrics."""
    notes = current()
    if notes is not None:
        notes.logged = False
