"""Resource identifiers: `<prefix>_<ULID>`, monotonic within a process; webhook ids, which are
secrets."""

import os
import secrets
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every 10-bit value as its two Crockford digits: a ULID is written two digits at a time.
_PAIRS = [high + low for high in _CROCKFORD for low in _CROCKFORD]
_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1
# Random bytes are read from the system this many at a time, not once per millisecond.
_ENTROPY_CHUNK = 4096


class _UlidGenerator:
    """Generates ULIDs that sort in creation order even within one millisecond."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0
        self._entropy = b""
        # The time digits of the last millisecond an id was made in.
        self._time_digits = ""

    def _fresh_random(self) -> int:
        if len(self._entropy) < 10:
            self._entropy = os.urandom(_ENTROPY_CHUNK)
        chunk, self._entropy = self._entropy[:10], self._entropy[10:]
        # The top bit stays clear, leaving room to count up within a millisecond.
        return int.from_bytes(chunk, "big") >> 1

    def new(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms = self._last_ms
                self._last_random += 1
                if self._last_random > _RANDOM_MAX:
                    ms += 1
                    self._last_random = self._fresh_random()
            else:
                self._last_random = self._fresh_random()
            if ms != self._last_ms:
                self._last_ms = ms
                # 48 bits of time in 10 digits, then 80 random bits in 16.
                self._time_digits = "".join(_PAIRS[(ms >> shift) & 1023] for shift in (40, 30, 20, 10, 0))
            time_digits, r = self._time_digits, self._last_random
        p = _PAIRS
        return (
            time_digits
            + p[r >> 70]
            + p[(r >> 60) & 1023]
            + p[(r >> 50) & 1023]
            + p[(r >> 40) & 1023]
            + p[(r >> 30) & 1023]
            + p[(r >> 20) & 1023]
            + p[(r >> 10) & 1023]
            + p[r & 1023]
        )


_generator = _UlidGenerator()


def new_id(prefix: str) -> str:
    """A new identifier such as `msg_01HF58RDKE3M7K5RJ5XZ7GF6HE`."""
    return f"{prefix}_{_generator.new()}"


def new_webhook_id() -> str:
    """A webhook id: 128 bits from the system's CSPRNG, as 32 hex digits. Anyone who knows it can
    call the installation's integration, so it must not be guessable from another id (a ULID made
    in the same millisecond as another differs from it by one)."""
    return secrets.token_hex(16)


USER = "user"
CONVERSATION = "conv"
MESSAGE = "msg"
EVENT = "evt"
STATE = "state"
BOT = "bot"
INTEGRATION = "int"
BOT_API_KEY = "bak"
INTEGRATION_API_KEY = "iak"
ADMIN_TOKEN = "pat"
DELIVERY = "dlv"
WORKFLOW = "wrkflow"
TASK = "task"
ANALYTICS = "anl"
SIGNAL = "sig"
