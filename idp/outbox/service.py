"""Queueing items with the change that causes them, and sending them right after.

`put()` adds an item to the caller's transaction: it exists if and only if the change is
committed. Once the caller has committed, `send_after_commit()` hands the new items to
this process's background senders, so the web request never waits for a mail server or
a relying application. What they cannot deliver stays in the outbox for its next
attempt (`idp outbox deliver`, from cron); so does what a process stopped before sending.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from flask import Flask, current_app
from sqlalchemy import inspect

from idp.core.clock import utcnow
from idp.extensions import db
from idp.outbox.delivery import deliver_due
from idp.outbox.models import OutboxItem

# db.session.info key: (channel, item) of the items put in this transaction. The channel
# is kept aside: reading it from an item expired by the commit would cost a query.
_PENDING = "idp.outbox.pending"


def put(channel: str, recipient: str, subject: str, payload: dict[str, Any]) -> OutboxItem:
    """Add an item to the current transaction, due at once; the caller commits it with
    its change, then calls `send_after_commit()`."""
    now = utcnow()
    item = OutboxItem(channel=channel, recipient=recipient, subject=subject,
                      payload=payload, created_at=now, attempts=0, next_attempt_at=now)
    db.session.add(item)
    db.session.info.setdefault(_PENDING, []).append((channel, item))
    return item


def send_after_commit() -> None:
    """Start sending, in the background, the items of the transaction just committed."""
    by_channel: dict[str, list[int]] = defaultdict(list)
    for channel, item in db.session.info.pop(_PENDING, []):
        state = inspect(item)
        if state.persistent:  # committed; those of a rolled-back transaction are not
            by_channel[channel].append(state.identity[0])
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for channel, ids in by_channel.items():
        _senders.submit(app, channel, ids)


def wait_idle(timeout: float = 30.0) -> bool:
    """Wait until this process's background sends are over (tests, shutdown); False if
    some still run after `timeout` seconds."""
    return _senders.wait_idle(timeout)


class _Senders:
    """A few threads per process that deliver the items just committed."""

    def __init__(self, workers: int = 4) -> None:
        self._workers = workers
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid: int | None = None
        self._running: set[Future[Any]] = set()

    def submit(self, app: Flask, channel: str, ids: list[int]) -> None:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                # First use, or a forked worker process: the parent's threads did not follow.
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="outbox")
                self._pid, self._running = os.getpid(), set()
            try:
                future = self._pool.submit(self._deliver, app, channel, ids)
            except RuntimeError:  # the interpreter is shutting down: cron will send them
                return
            self._running.add(future)
        future.add_done_callback(self._done)

    @staticmethod
    def _deliver(app: Flask, channel: str, ids: list[int]) -> None:
        with app.app_context():
            deliver_due(channel, limit=len(ids), ids=ids)

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._running.discard(future)

    def wait_idle(self, timeout: float) -> bool:
        # A delivery may queue further items (a recovery request its mail): wait until
        # nothing runs any more, not only for what ran when called.
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                running = list(self._running)
            remaining = deadline - time.monotonic()
            if not running:
                return True
            if remaining <= 0 or wait(running, remaining).not_done:
                return False


_senders = _Senders()
