"""The outbox table: one row per item to deliver, whatever its channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.core.clock import utcnow
from idp.extensions import UTCDateTime, db


class OutboxItem(db.Model):
    """One item for one recipient, on one channel.

    `next_attempt_at` is when a deliverer may try it next; it is emptied once the item is
    delivered or abandoned. A deliverer holds the item until `leased_until` (a process
    that dies while sending lets it go that way). `payload` is what the channel needs to
    send it; it is purged once it will never be sent again (it may hold a secret link),
    while the recipient, subject and timestamps stay as the record of the delivery.
    """

    __tablename__ = "outbox_items"
    __table_args__ = (Index("ix_outbox_items_due", "channel", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    # none_as_null: a purged payload is SQL NULL, not the JSON text 'null'.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def state(self, now: datetime | None = None) -> str:
        """delivered, abandoned, sending (a deliverer holds it) or waiting."""
        if self.delivered_at is not None:
            return "delivered"
        if self.abandoned_at is not None:
            return "abandoned"
        if self.leased_until is not None and self.leased_until > (now or utcnow()):
            return "sending"
        return "waiting"

    def __repr__(self) -> str:
        return f"<OutboxItem {self.id} {self.channel} to {self.recipient} {self.state()}>"
