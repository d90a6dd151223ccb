"""Counts the round trips between a PostgreSQL client and the server: a TCP proxy in front of the
database that counts, on each connection, every time the client speaks after the server has (a
request sent after an answer, or the first one). Pipelined messages and a simple query of several
statements are one round trip; a statement prepared on first use is two (Parse, then Execute).

The connection a process LISTENs on (its wake-ups, and NOTIFYs for other processes) is counted
apart: it is not on any request's path."""

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit, urlunsplit

_CHUNK = 1 << 16
# The message a client opens with to ask for TLS: the proxy answers "no" itself, so that it can
# read what follows.
_SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


class RoundTrips:
    """The proxy's counts, read from any thread."""

    def __init__(self) -> None:
        self.requests = 0
        """Round trips on the connections that serve requests and background work."""
        self.listening = 0
        """Round trips on connections that sent LISTEN."""

    @property
    def total(self) -> int:
        return self.requests + self.listening


class _Link:
    """One client connection and its state: whose turn it was last."""

    def __init__(self, counts: RoundTrips) -> None:
        self._counts = counts
        self._client_spoke_last = False
        self.listening = False

    def from_client(self, data: bytes) -> None:
        if not self.listening and b"LISTEN " in data:
            self.listening = True
        if not self._client_spoke_last:
            self._client_spoke_last = True
            if self.listening:
                self._counts.listening += 1
            else:
                self._counts.requests += 1

    def from_server(self) -> None:
        self._client_spoke_last = False


def _target(url: str) -> tuple[str | None, str, int]:
    """(Unix socket path or None, host, port) of a postgresql:// URL."""
    parts = urlsplit(url)
    port = parts.port or 5432
    host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
    if host.startswith("/"):
        return f"{host}/.s.PGSQL.{port}", host, port
    return None, host, port


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: "_Seen") -> None:
    try:
        while data := await reader.read(_CHUNK):
            seen(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            writer.close()


class _Seen:
    def __init__(self, link: _Link, *, client: bool) -> None:
        self._link = link
        self._client = client

    def __call__(self, data: bytes) -> None:
        if self._client:
            self._link.from_client(data)
        else:
            self._link.from_server()


@contextmanager
def counting_proxy(url: str) -> Iterator[tuple[str, RoundTrips]]:
    """A proxy in front of the database of `url` (TCP or a Unix socket), run on a thread of its
    own; yields the URL that reaches the database through it (TLS off, so that every byte can
    be seen) and its counts."""
    socket_path, host, port = _target(url)
    counts = RoundTrips()
    loop = asyncio.new_event_loop()
    started: list[int] = []
    ready = threading.Event()

    async def serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if socket_path is not None:
            server_reader, server_writer = await asyncio.open_unix_connection(socket_path)
        else:
            server_reader, server_writer = await asyncio.open_connection(host, port)
        link = _Link(counts)
        first = await client_reader.readexactly(8)
        if first == _SSL_REQUEST:
            client_writer.write(b"N")
        else:
            server_writer.write(first)
        await asyncio.gather(
            _pump(client_reader, server_writer, _Seen(link, client=True)),
            _pump(server_reader, client_writer, _Seen(link, client=False)),
        )

    async def main() -> asyncio.Server:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        started.append(server.sockets[0].getsockname()[1])
        return server

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(main())
        ready.set()
        loop.run_forever()
        server.close()
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    thread = threading.Thread(target=run, name="round-trip-proxy", daemon=True)
    thread.start()
    ready.wait(10)
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{started[0]}" if credentials else f"127.0.0.1:{started[0]}"
    proxied = urlunsplit(parts._replace(netloc=netloc, query=""))
    try:
        yield proxied, counts
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
