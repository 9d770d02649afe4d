"""Time, always timezone-aware UTC; shown to people in Paris time."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# The pages and exports show dates as French users read them.
PARIS = ZoneInfo("Europe/Paris")


def utcnow() -> datetime:
    return datetime.now(UTC)
