"""Time, always timezone-aware UTC; shown to people in Paris time."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# The pages and exports show dates as French users read them.
PARIS = ZoneInfo("Europe/Paris")


def utcnow() -> datetime:
    return datetime.now(UTC)


def paris_day(value: date | None, shift: int = 0) -> datetime | None:
    """A date typed in a filter as the moment its day starts in Paris (`shift` days
    later: `paris_day(until, 1)` ends a range that includes `until`)."""
    return datetime.combine(value + timedelta(days=shift), time(), PARIS) if value else None
