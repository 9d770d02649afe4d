"""What a channel is, and which channels an application has.

A channel sends one kind of item (a mail, a logout token). The outbox makes one channel
object per batch and per worker thread, inside an app context, calls `send()` for each
item it claimed, then `close()`. `send()` returns when the item is delivered and raises
when it is not: `RetryLater` with a message for the record, `ChannelUnavailable` when
the rest of the batch would fail the same way; any other exception counts as a failure
too (its type is recorded with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from flask import Flask, current_app
from sqlalchemy import Row

_EXTENSION = "idp.outbox.channels"


class RetryLater(Exception):
    """Not delivered this time; str(exc) says why. The item waits for its next attempt."""


class ChannelUnavailable(RetryLater):
    """Nothing can go through the channel now (the mail server is down): the items left
    in this batch are not even tried."""


@dataclass(frozen=True)
class Item:
    """An item as a channel sees it, claimed for one attempt."""

    id: int
    channel: str
    recipient: str
    subject: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int  # this attempt included

    @classmethod
    def of(cls, row: Row[Any]) -> Item:
        return cls(row.id, row.channel, row.recipient, row.subject, row.payload or {},
                   row.created_at, row.attempts)


class Channel:
    """Base of the channels: subclasses set `name` and implement `send()`."""

    name: ClassVar[str]  # in the table and in the settings (`[outbox] <name>_...`)
    workers: ClassVar[int] = 1  # items sent at once in a batch, each worker its own object

    def send(self, item: Item) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """End of the batch: release what it held (a connection)."""


def install(app: Flask, *channels: type[Channel]) -> None:
    """Give `app` these channels (create_app does it once)."""
    app.extensions[_EXTENSION] = {channel.name: channel for channel in channels}


def installed() -> dict[str, type[Channel]]:
    """The current application's channels, by name."""
    return dict(current_app.extensions[_EXTENSION])
