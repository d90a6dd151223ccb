"""`schedule` on createMessage, getOrCreateMessage and createEvent: when the work becomes due."""

from parley.clock import parse_iso
from parley.errors import InvalidPayload
from parley.service.models import Schedule

MAX_DELAY_MS = 10 * 366 * 24 * 3600 * 1000


def due_ms(schedule: Schedule | None, now_ms: int) -> int | None:
    """The due time of a schedule, or None when the work is due now (no schedule, a zero delay,
    or a `dateTime` that has passed). Raises InvalidPayload for a schedule the contract refuses."""
    if schedule is None:
        return None
    if (schedule.date_time is None) == (schedule.delay is None):
        raise InvalidPayload("A schedule needs exactly one of `dateTime` or `delay`.")
    if schedule.delay is not None:
        if not 0 <= schedule.delay <= MAX_DELAY_MS:
            raise InvalidPayload(f"`schedule.delay` must be between 0 and {MAX_DELAY_MS} milliseconds.")
        due = now_ms + int(schedule.delay)
    else:
        try:
            due = parse_iso(schedule.date_time or "")
        except ValueError:
            raise InvalidPayload(f"`schedule.dateTime` is not an ISO 8601 date-time: {schedule.date_time!r}.") from None
        if due - now_ms > MAX_DELAY_MS:
            raise InvalidPayload("`schedule.dateTime` may be at most ten years ahead.")
    return due if due > now_ms else None
