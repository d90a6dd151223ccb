"""Signals of the Chat API (a message created, a participant added...) and the streams that carry
them to clients: every stream open in this process, by conversation, and the way a signal written
by any process reaches them.

On SQLite one process serves the database, and a signal goes straight to its streams. On
PostgreSQL every signal is a NOTIFY on one channel, which every process LISTENs to (the one that
sent it too), so a stream held by one process hears what a request to another did; a signal too
large for a NOTIFY is written to the `signals` table and the NOTIFY names its row. Nothing polls:
a stream with nothing to say costs one idle coroutine and its waiter, and a keep-alive now and then.

A payload on the channel is `<conversation id> <signal JSON>`, `<conversation id> ~<signal JSON>`
(for the Webchat API's streams only), `<conversation id> !<user id>` (close that user's streams on
the conversation), or `@<signal row id>`.

The Webchat API's streams hear the Chat API's signals too, and say them in their own words; a
signal only they understand (the typing indicator) is marked `~`, which they keep and others never
see.
"""

import asyncio
import logging
from collections import deque

from parley import ids
from parley.clock import Clock, iso_from_ms
from parley.metrics import METRICS
from parley.store import signals as store
from parley.store.database import NOTIFY_LIMIT, Database

logger = logging.getLogger("parley.chat")

CHANNEL = "parley_chat"
# A client that reads slower than this many signals behind is cut off; it reconnects and reads
# the conversation's messages again, as the Chat API's clients do after any error.
MAX_BEHIND = 1_000
# How long a large signal's row is kept for the processes that read it.
KEPT_MS = 60_000
_CLOSE = "!"
WEBCHAT_ONLY = "~"


class Stream:
    """One client's stream on a conversation: the signals waiting to be sent to it."""

    __slots__ = ("_pending", "_ready", "conversation_id", "ended", "reason", "user_id", "webchat")

    def __init__(self, conversation_id: str, user_id: str, *, webchat: bool = False) -> None:
        self.conversation_id = conversation_id
        self.user_id = user_id
        # A Webchat API stream: it is also sent the signals marked for the webchat only.
        self.webchat = webchat
        self._pending: deque[str] = deque()
        self._ready = asyncio.Event()
        self.ended = False
        # Why the stream ended, told to the client in a last `close` event; None when the client
        # itself left.
        self.reason: str | None = None

    def push(self, signal: str) -> None:
        if len(self._pending) >= MAX_BEHIND:
            self.end("the client fell too far behind; read the conversation again")
            return
        self._pending.append(signal)
        self._ready.set()

    def end(self, reason: str | None) -> None:
        if not self.ended:
            self.ended = True
            self.reason = reason
        self._ready.set()

    async def next(self, wait: float) -> list[str] | None:
        """The signals waiting, awaited at most `wait` seconds: an empty list when none came,
        None once the stream has ended and everything before its end was taken."""
        if not self._pending and not self.ended:
            try:
                async with asyncio.timeout(wait):
                    await self._ready.wait()
            except TimeoutError:
                return []
        self._ready.clear()
        if not self._pending:
            return None
        signals = list(self._pending)
        self._pending.clear()
        return signals


class Signals:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._streams: dict[str, set[Stream]] = {}
        # Payloads heard while one that names a row is being read: they wait, to keep the order.
        self._backlog: deque[str] = deque()
        self._reading: asyncio.Task[None] | None = None
        self._last_prune_ms = 0

    async def start(self) -> None:
        await self._db.listen(CHANNEL, self._heard)

    @property
    def open_streams(self) -> int:
        return sum(len(streams) for streams in self._streams.values())

    def open(self, conversation_id: str, user_id: str, *, webchat: bool = False) -> Stream:
        stream = Stream(conversation_id, user_id, webchat=webchat)
        self._streams.setdefault(conversation_id, set()).add(stream)
        METRICS.streams(1)
        return stream

    def release(self, stream: Stream) -> None:
        streams = self._streams.get(stream.conversation_id)
        if streams is not None and stream in streams:
            streams.discard(stream)
            METRICS.streams(-1)
            if not streams:
                del self._streams[stream.conversation_id]

    def close_all(self) -> None:
        """Ends every stream of this process (at shutdown)."""
        for streams in list(self._streams.values()):
            for stream in list(streams):
                stream.end("the server is stopping")

    async def publish(self, conversation_id: str, signal: str, *, webchat_only: bool = False) -> None:
        """Sends `signal` (the JSON of `{type, data}`) to every stream on the conversation, in
        every process, or to its Webchat API streams only. Called once what it tells of is
        committed."""
        await self._send(f"{conversation_id} {WEBCHAT_ONLY if webchat_only else ''}{signal}")

    async def close_streams(self, conversation_id: str, user_id: str) -> None:
        """Ends the user's streams on the conversation, in every process."""
        await self._send(f"{conversation_id} {_CLOSE}{user_id}")

    async def _send(self, payload: str) -> None:
        if self._db.dialect == "sqlite" or len(payload.encode()) <= NOTIFY_LIMIT:
            await self._db.notify(CHANNEL, payload)
            return
        signal_id = ids.new_id(ids.SIGNAL)
        now_ms = self._clock.now_ms()
        async with self._db.transaction() as conn:
            await store.insert_signal(conn, id=signal_id, payload=payload, now=iso_from_ms(now_ms))
            if now_ms - self._last_prune_ms > KEPT_MS:
                self._last_prune_ms = now_ms
                await store.prune(conn, before=iso_from_ms(now_ms - KEPT_MS))
        await self._db.notify(CHANNEL, f"@{signal_id}")

    def _heard(self, payload: str) -> None:
        if self._reading is not None:
            self._backlog.append(payload)
        elif payload.startswith("@"):
            self._backlog.append(payload)
            self._reading = asyncio.get_running_loop().create_task(self._read_backlog())
        else:
            self._route(payload)

    async def _read_backlog(self) -> None:
        try:
            while self._backlog:
                payload = self._backlog.popleft()
                if payload.startswith("@"):
                    try:
                        async with self._db.connection() as conn:
                            row = await store.get_signal(conn, payload[1:])
                    except Exception:
                        logger.warning("cannot read signal %s; its streams miss it", payload[1:], exc_info=True)
                        continue
                    if row is None:
                        continue
                    payload = row["payload"]
                self._route(payload)
        finally:
            self._reading = None

    def _route(self, payload: str) -> None:
        conversation_id, _, signal = payload.partition(" ")
        streams = self._streams.get(conversation_id)
        if not streams:
            return
        if signal.startswith(_CLOSE):
            user_id = signal[1:]
            for stream in list(streams):
                if stream.user_id == user_id:
                    stream.end("the user is no longer a participant")
            return
        webchat_only = signal.startswith(WEBCHAT_ONLY)
        for stream in list(streams):
            if stream.webchat or not webchat_only:
                stream.push(signal)
