"""How long a claim lasts, how long to wait before the next attempt, when to give up:
per channel, from the `[outbox]` settings (`<channel>_lease`, `<channel>_first_retry`,
`<channel>_max_retry`, `<channel>_give_up_after_attempts`, `<channel>_give_up_after`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Policy:
    lease: timedelta  # longer than any send, or a second deliverer would take the item
    first_retry: timedelta  # after the first failure, then doubled at every failure...
    max_retry: timedelta  # ...up to this
    give_up_after_attempts: int  # 0: no limit on the number of attempts
    give_up_after: timedelta | None  # since the item was queued; None: no limit

    @classmethod
    def of(cls, channel: str, settings: dict[str, Any]) -> Policy:
        """The policy of `channel` in the `[outbox]` section `settings`."""
        def seconds(key: str) -> timedelta:
            return timedelta(seconds=settings[f"{channel}_{key}"])

        return cls(lease=seconds("lease"), first_retry=seconds("first_retry"),
                   max_retry=seconds("max_retry"),
                   give_up_after_attempts=settings[f"{channel}_give_up_after_attempts"],
                   give_up_after=seconds("give_up_after") or None)

    def retry_delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt."""
        # In float seconds: a timedelta doubled a thousand times would overflow.
        grown = self.first_retry.total_seconds() * 2.0 ** min(max(attempts - 1, 0), 64)
        return timedelta(seconds=min(grown, self.max_retry.total_seconds()))

    def gives_up(self, attempts: int, age: timedelta) -> bool:
        """Whether an item that has just failed its `attempts`-th attempt, `age` after it
        was queued, is abandoned rather than tried again."""
        if self.give_up_after_attempts and attempts >= self.give_up_after_attempts:
            return True
        return self.give_up_after is not None and age >= self.give_up_after
