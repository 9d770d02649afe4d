"""Delivering what is due: claim an item, send it through its channel, record the outcome.

Several processes, on several hosts, may deliver at once (the background sends of every
web process, `idp outbox deliver` from cron). Each attempt first claims its item with one
conditional UPDATE that sets a lease: one deliverer wins, the others skip the item. A
deliverer that dies while sending leaves its claim to expire with the lease, and the item
is tried again: delivery is at least once. A failure schedules the next attempt after a
growing delay, or abandons the item when the channel's policy says so.

`deliver_due()` works in app contexts of its own (one per worker thread), so it never
touches the caller's session. Its `now` fixes the clock (to deliver now what a later run
would, in tests); without it, the time is read when it is needed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import func, select, update

from idp.core.audit import Actor, record
from idp.core.clock import utcnow
from idp.extensions import db
from idp.ops.metrics import outbox_delivery
from idp.outbox.channels import Channel, ChannelUnavailable, Item, RetryLater, installed
from idp.outbox.models import OutboxItem
from idp.outbox.policy import Policy

logger = logging.getLogger(__name__)
# Failures are reported to the caller too: print them only where logging is configured
# (the app's logger, gunicorn), never on a command's stderr by Python's last resort.
logger.addHandler(logging.NullHandler())

_items = OutboxItem.__table__
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt."""

    item: int
    channel: str
    recipient: str
    error: str | None = None  # None: delivered
    abandoned: bool = False


@dataclass
class DeliveryReport:
    """What one `deliver_due()` call did."""

    outcomes: list[Outcome] = field(default_factory=list)
    # Due but not tried: another deliverer holds them, or their channel was unavailable.
    left: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def delivered(self) -> list[int]:
        return [o.item for o in self.outcomes if o.error is None]

    @property
    def failed(self) -> dict[int, str]:
        """Every failure, abandoned items included: item id -> error."""
        return {o.item: o.error for o in self.outcomes if o.error is not None}

    @property
    def abandoned(self) -> list[int]:
        return [o.item for o in self.outcomes if o.abandoned]

    def summary(self, channel: str) -> dict[str, int]:
        mine = [o for o in self.outcomes if o.channel == channel]
        return {"delivered": sum(o.error is None for o in mine),
                "retry_later": sum(o.error is not None and not o.abandoned for o in mine),
                "abandoned": sum(o.abandoned for o in mine),
                "left": self.left.get(channel, 0)}

    def add(self, outcome: Outcome | None, channel: str) -> None:
        """Count an attempt's outcome, or (None) an item left for later."""
        with self._lock:
            if outcome is None:
                self.left[channel] = self.left.get(channel, 0) + 1
            else:
                self.outcomes.append(outcome)


def policy(channel: str) -> Policy:
    """The current application's policy for `channel`."""
    return Policy.of(channel, current_app.config["IDP"]["outbox"])


def _due(now: datetime) -> Any:
    # Delivered and abandoned items have no next attempt: they are never due.
    return (_items.c.next_attempt_at <= now) & (
        _items.c.leased_until.is_(None) | (_items.c.leased_until <= now))


def claim(item_id: int, rules: Policy, now: datetime) -> Item | None:
    """Take a due item for one attempt and one lease; None if it is not due or taken."""
    session = db.session
    taken = session.execute(
        update(_items).where(_items.c.id == item_id, _due(now))
        .values(attempts=_items.c.attempts + 1, leased_until=now + rules.lease)
    ).rowcount
    row = session.execute(select(_items).where(_items.c.id == item_id)).one() if taken else None
    session.commit()
    return Item.of(row) if row is not None else None


def _delivered(item: Item, now: datetime) -> None:
    db.session.execute(
        update(_items).where(_items.c.id == item.id, _items.c.delivered_at.is_(None))
        .values(delivered_at=now, abandoned_at=None, next_attempt_at=None, leased_until=None,
                last_error=None, payload=None))
    db.session.commit()


def _failed(item: Item, error: str, rules: Policy, now: datetime) -> bool:
    """Record a failed attempt; True if the item is abandoned."""
    abandon = rules.gives_up(item.attempts, now - item.created_at)
    outcome: dict[str, Any] = (
        {"abandoned_at": now, "next_attempt_at": None, "payload": None} if abandon
        else {"next_attempt_at": now + rules.retry_delay(item.attempts)})
    # Only while our claim is the latest one (not taken over after our lease ended).
    latest = db.session.execute(
        update(_items).where(_items.c.id == item.id, _items.c.attempts == item.attempts,
                             _items.c.delivered_at.is_(None))
        .values(leased_until=None, last_error=error[:2000], **outcome)).rowcount == 1
    if latest and abandon:
        logger.warning("%s item %s to %s abandoned after %d attempts: %s", item.channel,
                       item.id, item.recipient, item.attempts, error)
        record(Actor.system(), "outbox.abandoned", channel=item.channel, item=item.id,
               recipient=item.recipient, attempts=item.attempts, error=error[:500])
    db.session.commit()
    return latest and abandon


def _describe(exc: Exception) -> str:
    # A plain RetryLater says what happened in the channel's own words; any other
    # exception (a subclass included) is named by its type.
    return str(exc) if type(exc) is RetryLater else f"{type(exc).__name__}: {exc}"


def _attempt(item_id: int, sender: Channel, rules: Policy, clock: Clock,
             unavailable: threading.Event) -> Outcome | None:
    """One attempt at one item, if it is due and nobody else holds it."""
    item = claim(item_id, rules, clock())
    if item is None:
        return None
    try:
        sender.send(item)
    except Exception as exc:
        error = _describe(exc)
        logger.warning("%s item %s to %s not delivered: %s", item.channel, item.id,
                       item.recipient, error)
        if isinstance(exc, ChannelUnavailable):
            unavailable.set()
        abandoned = _failed(item, error, rules, clock())
        outbox_delivery(item.channel, "abandoned" if abandoned else "failed")
        return Outcome(item.id, item.channel, item.recipient, error, abandoned)
    _delivered(item, clock())
    outbox_delivery(item.channel, "delivered")
    return Outcome(item.id, item.channel, item.recipient)


def deliver_due(channel: str | None = None, limit: int = 100, *,
                ids: Collection[int] | None = None, now: datetime | None = None
                ) -> DeliveryReport:
    """Send up to `limit` due items of each channel (of `channel` only if given, of `ids`
    only if given). Failures do not raise: every outcome is recorded in the outbox, the
    report says what this call did."""
    channels = installed()
    if channel is not None and channel not in channels:
        raise ValueError(f"no outbox channel {channel!r} (channels: {', '.join(channels)})")
    report = DeliveryReport()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for name in [channel] if channel else sorted(channels):
        _deliver_channel(app, channels[name], limit, ids, now, report)
    return report


def _deliver_channel(app: Flask, kind: type[Channel], limit: int,
                     ids: Collection[int] | None, now: datetime | None,
                     report: DeliveryReport) -> None:
    def clock() -> datetime:
        return now or utcnow()

    rules = policy(kind.name)
    query = select(_items.c.id).where(_items.c.channel == kind.name, _due(clock()))
    if ids is not None:
        query = query.where(_items.c.id.in_(list(ids)))
    try:
        with app.app_context():
            candidates = list(db.session.scalars(
                query.order_by(_items.c.next_attempt_at, _items.c.id).limit(limit)))
    except Exception:
        logger.exception("%s delivery interrupted", kind.name)
        return
    todo = iter(candidates)
    lock = threading.Lock()
    unavailable = threading.Event()

    def worker() -> None:
        try:
            with app.app_context():
                sender = kind()
                try:
                    while (item_id := _next(todo, lock)) is not None:
                        report.add(None if unavailable.is_set() else
                                   _attempt(item_id, sender, rules, clock, unavailable),
                                   kind.name)
                finally:
                    sender.close()
        except Exception:  # the database went away: the items wait for the next run
            logger.exception("%s delivery interrupted", kind.name)

    if not candidates:
        return
    threads = [threading.Thread(target=worker, name=f"outbox-{kind.name}")
               for _ in range(min(kind.workers, len(candidates)) - 1)]
    for thread in threads:
        thread.start()
    worker()  # this thread is a worker too
    for thread in threads:
        thread.join()


def _next(todo: Iterator[int], lock: threading.Lock) -> int | None:
    with lock:
        return next(todo, None)


def pending(limit: int = 100, channel: str | None = None) -> list[OutboxItem]:
    """The items not delivered, oldest first: waiting, being sent, or abandoned."""
    query = select(OutboxItem).where(OutboxItem.delivered_at.is_(None))
    if channel:
        query = query.where(OutboxItem.channel == channel)
    return list(db.session.scalars(query.order_by(OutboxItem.created_at, OutboxItem.id)
                                   .limit(limit)))


# Still to deliver: waiting for an attempt or being sent (not delivered, not abandoned).
_TO_DELIVER = _items.c.next_attempt_at.is_not(None)


def pending_count(channel: str | None = None) -> int:
    """Items still to deliver."""
    query = select(func.count()).select_from(_items).where(_TO_DELIVER)
    if channel:
        query = query.where(_items.c.channel == channel)
    return db.session.scalar(query) or 0


def backlog() -> dict[str, tuple[int, datetime]]:
    """Per channel with items still to deliver: how many, and when the oldest was queued."""
    rows = db.session.execute(
        select(_items.c.channel, func.count(), func.min(_items.c.created_at))
        .where(_TO_DELIVER).group_by(_items.c.channel))
    return {channel: (count, oldest) for channel, count, oldest in rows}
