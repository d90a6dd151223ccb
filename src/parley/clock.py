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


@lru_cache(maxsize=256)
def _iso_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def iso_from_ms(ms: int) -> str:
    """`2024-05-01T12:00:00.000Z`: the form JavaScript's `toISOString()` produces."""
    seconds, millis = divmod(ms, 1000)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


def parse_iso(value: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 date-time; naive values are taken as UTC.

    Raises ValueError when the text is not a date-time.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
