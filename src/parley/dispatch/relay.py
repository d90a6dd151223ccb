"""The webhook relay: a request an outside service sends to an installation's webhook URL goes to
the integration's server as `webhook_received`, and the integration's answer goes back as it is.

The caller waits for the integration, never for the database beyond finding the installation:
that one read holds a connection only while it runs, and what the call did is written afterwards,
in batches, by a background task.
"""

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
import msgspec

from parley import background, ids
from parley.clock import Clock, iso_from_ms
from parley.config import Settings
from parley.dispatch import calls
from parley.errors import OperationTimeout, ResourceNotFound, Runtime
from parley.store import bots as bot_store
from parley.store import deliveries as delivery_store
from parley.store.bots import RelayTargetRow
from parley.store.database import Database

logger = logging.getLogger("parley.relay")

# Written at most this many to a transaction.
RECORD_BATCH = 100
# Hop-by-hop headers, and the length, which the relay's own answer states.
_NOT_RELAYED = frozenset((b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"upgrade"))


class IntegrationUnreachable(Runtime):
    """The integration behind a webhook did not answer, or failed."""

    status = 502


@dataclass(frozen=True, slots=True)
class Inbound:
    """The outside request: `path` is what follows the webhook id (`/` when nothing does) and
    `query` the raw query string without `?`."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """The integration's answer, to be relayed unchanged."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class Relay:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._http: aiohttp.ClientSession | None = None
        self._pending: list[delivery_store.Relayed] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        # aiohttp rather than httpx: relaying to an integration that answers at once, httpx's
        # client cost about 1.2 ms of CPU per call at 32 concurrent callers, aiohttp's 0.17 ms
        # (bench/relay.py). The body is passed through as it came, compressed or not.
        self._http = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
        self._task = asyncio.create_task(self._write_loop(), name="parley-relay-records")

    async def stop(self) -> None:
        """Writes what is still unwritten, then closes the HTTP client."""
        await background.cancel(self._task)
        self._task = None
        await self._write_pending()
        if self._http is not None:
            await self._http.close()

    async def forward(self, webhook_id: str, inbound: Inbound) -> Answer:
        """The integration's answer to `inbound`. ResourceNotFound when no enabled installation
        has this webhook id; IntegrationUnreachable (502) or OperationTimeout (504) when the
        integration does not answer, or answers with a server error."""
        target = await self._installation(webhook_id)
        url = target["integration_url"]
        assert url is not None, "_installation answers installations whose integration has a url"
        started_ms, began = self._clock.now_ms(), time.monotonic()
        request: dict[str, object] = {
            "method": inbound.method,
            "path": inbound.path,
            "query": inbound.query,
            "headers": inbound.headers,
        }
        if inbound.body:
            # What is not UTF-8 arrives with replacement characters; the integration judges it.
            request["body"] = inbound.body.decode("utf-8", errors="replace")
        headers = calls.relay_headers(target)
        timeout_s = self._settings.dispatch_timeout_ms / 1000
        assert self._http is not None, "the relay is started"
        try:
            async with (
                asyncio.timeout(timeout_s),
                self._http.post(
                    url, data=msgspec.json.encode({"req": request}), headers=headers, allow_redirects=False
                ) as response,
            ):
                status, raw_headers, body = response.status, response.raw_headers, await response.read()
        except TimeoutError:
            self._note(target, started_ms, began, None, f"no answer from {url} within {timeout_s * 1000:g} ms")
            raise OperationTimeout("The integration behind this webhook did not answer in time.") from None
        except aiohttp.ClientError as error:
            self._note(target, started_ms, began, None, f"{type(error).__name__} calling {url}: {error}".strip())
            raise IntegrationUnreachable("The integration behind this webhook could not be reached.") from None
        if status >= 500:
            reason = calls.error_reason(status, body.decode("utf-8", errors="replace"))
            self._note(target, started_ms, began, status, reason)
            raise IntegrationUnreachable(
                f"The integration behind this webhook failed to handle the request (HTTP {status})."
            )
        self._note(target, started_ms, began, status, None)
        return Answer(status, _relayed_headers(raw_headers), body)

    async def _installation(self, webhook_id: str) -> RelayTargetRow:
        async with self._db.connection() as conn:
            found = await bot_store.find_by_webhook(conn, webhook_id)
        if found is None or not found["enabled"]:
            raise ResourceNotFound(f"Webhook {webhook_id} not found.")
        if not found["integration_url"]:
            raise IntegrationUnreachable("The integration behind this webhook has no url to relay to.")
        if found["bot_user_id"]:
            return found
        # The integration was never called for this installation: its bot user is made now.
        async with self._db.transaction() as conn:
            installation = await bot_store.get_installation(conn, bot_id=found["bot_id"], alias=found["alias"])
            if installation is None:
                raise ResourceNotFound(f"Webhook {webhook_id} not found.")
            await calls.bot_user(
                conn,
                bot_id=found["bot_id"],
                bot_name=found["bot_name"],
                installation=installation,
                now=iso_from_ms(self._clock.now_ms()),
            )
            refreshed = await bot_store.find_by_webhook(conn, webhook_id)
        if refreshed is None:
            raise ResourceNotFound(f"Webhook {webhook_id} not found.")
        return refreshed

    def _note(
        self, target: RelayTargetRow, started_ms: int, began: float, status_code: int | None, error: str | None
    ) -> None:
        """Keeps a record of the call, to be written off the caller's wait."""
        self._pending.append(
            delivery_store.Relayed(
                id=ids.new_id(ids.DELIVERY),
                bot_id=target["bot_id"],
                alias=target["alias"],
                started_at=iso_from_ms(started_ms),
                finished_at=iso_from_ms(self._clock.now_ms()),
                duration_ms=int((time.monotonic() - began) * 1000),
                status="failed" if error is not None else "delivered",
                status_code=status_code,
                error=error,
                data=msgspec.json.encode({"webhookId": target["webhook_id"]}).decode(),
            )
        )
        self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._write_pending()
            except Exception:
                logger.exception("writing the records of relayed webhook calls failed; they are lost")

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:RECORD_BATCH], self._pending[RECORD_BATCH:]
            async with self._db.transaction() as conn:
                await delivery_store.insert_relayed(conn, batch)


def _relayed_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower(), value) for name, value in raw if name.lower() not in _NOT_RELAYED]
