"""Resource identifiers: `<prefix>_<ULID>`, monotonic within a process."""

import base64
import os
import threading
import time

# Base32 digits (RFC 4648) translated to Crockford's, which ULIDs use.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ")
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
            self._last_ms = ms
            random = self._last_random
        # 48 bits of time in 10 digits (the first two carry its top 8 bits), then 80 random bits
        # in 16 digits: 5 bytes are 8 base32 digits, without padding.
        high = (ms >> 40).to_bytes(5, "big")
        low = (ms & ((1 << 40) - 1)).to_bytes(5, "big")
        encoded = base64.b32encode(high + low + random.to_bytes(10, "big")).translate(_TO_CROCKFORD)
        return (encoded[6:8] + encoded[8:]).decode()


_generator = _UlidGenerator()


def new_id(prefix: str) -> str:
    """A new identifier such as `msg_01HF58RDKE3M7K5RJ5XZ7GF6HE`."""
    return f"{prefix}_{_generator.new()}"


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
WEBHOOK = "webhook"
DELIVERY = "dlv"
WORKFLOW = "wrkflow"
TASK = "task"
ANALYTICS = "anl"
