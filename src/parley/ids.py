"""Resource identifiers: `<prefix>_<ULID>`, monotonic within a process."""

import os
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_MAX = (1 << 80) - 1


class _UlidGenerator:
    """Generates ULIDs that sort in creation order even within one millisecond."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0

    def new(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms = self._last_ms
                self._last_random += 1
                if self._last_random > _RANDOM_MAX:
                    ms += 1
                    self._last_random = int.from_bytes(os.urandom(10), "big") >> 1
            else:
                self._last_random = int.from_bytes(os.urandom(10), "big") >> 1
            self._last_ms = ms
            value = (ms << 80) | self._last_random
        chars = []
        for _ in range(26):
            chars.append(_CROCKFORD[value & 31])
            value >>= 5
        return "".join(reversed(chars))


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
