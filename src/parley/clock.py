"""Time: one clock that every time-dependent rule asks, and the ISO form the API speaks."""

import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class AdjustableClock:
    """The wall clock plus an offset that only grows: time runs at its normal pace and can be
    moved forward on request, so tests reach a due time or an expiry without waiting for it.
    Enabled by `PARLEY_CLOCK=adjustable`; never the default."""

    def __init__(self) -> None:
        self._offset_ms = 0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._offset_ms

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("the clock only moves forward")
        self._offset_ms += ms


# The first and last millisecond the API's dates can name (years 1 to 9999, UTC).
EARLIEST_MS = int(datetime(1, 1, 1, tzinfo=UTC).timestamp() * 1000)
LATEST_MS = int(datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp() * 1000)


@lru_cache(maxsize=256)
def _iso_second(seconds: int) -> str:
    # Written field by field: `%Y` does not pad years before 1000 to four digits here, and due
    # times are compared as text.
    t = time.gmtime(seconds)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def iso_from_ms(ms: int) -> str:
    """`2024-05-01T12:00:00.000Z`: the form JavaScript's `toISOString()` produces."""
    seconds, millis = divmod(ms, 1000)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


def parse_iso(value: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 date-time; naive values are taken as UTC.

    Raises ValueError when the text is not a date-time, or names a year outside 1 to 9999, which
    the API's four-digit form cannot write.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ms = int(parsed.timestamp() * 1000)
    if not EARLIEST_MS <= ms <= LATEST_MS:
        # An offset moved it out of the years 1 to 9999, in UTC.
        raise ValueError(f"{value!r} is outside the years 1 to 9999 in UTC")
    return ms
