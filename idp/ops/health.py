"""Readiness: can this process serve? The database and the short-lived store must answer.

Each check says `ok` or `unavailable`; why it failed goes to the log (redacted, one
line), never to the answer, which anyone who reaches the port may read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app
from sqlalchemy import text

from idp.extensions import db

logger = logging.getLogger(__name__)
_PROBE_KEY = "ops:readiness"  # read, never written: any answer will do


def _database() -> None:
    try:
        db.session.execute(text("SELECT 1"))
    finally:
        db.session.rollback()


def _store() -> None:
    current_app.extensions["idp.store"].get(_PROBE_KEY)


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "store": _store}


def readiness() -> dict[str, str]:
    """Each check's verdict."""
    verdicts = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # whatever the failure, the process is not ready
            logger.warning("readiness: %s unavailable: %s: %s", name, type(exc).__name__, exc)
            verdicts[name] = "unavailable"
        else:
            verdicts[name] = "ok"
    return verdicts
