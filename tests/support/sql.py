"""What SQL a piece of work runs, in this thread only (not the background senders it
starts): to check that two paths of a page do the same work."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import event

from idp.extensions import db
from idp.outbox import service as outbox


def statements_of(app: Flask, work: Callable[[], Any]) -> list[str]:
    seen: list[str] = []
    me = threading.get_ident()

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.get_ident() == me:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", note)
        outbox.wait_idle()
    return seen
