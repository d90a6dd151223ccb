"""Runs real Parley servers for the tests and talks to them over HTTP."""

import asyncio
import os
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

T = TypeVar("T")

PG_ADMIN_URL = os.environ.get("PARLEY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TABLES = (
    "bots",
    "integrations",
    "installations",
    "api_keys",
    "users",
    "conversations",
    "participants",
    "messages",
    "tag_index",
    "events",
    "states",
    "timers",
    "deliveries",
    "workflows",
    "tasks",
    "analytics",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_answering(process: subprocess.Popen[bytes], url: str, *, within: float, what: str) -> None:
    """Waits until `url` answers 200; raises if the process exits first or `within` seconds pass."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not answer on {url} within {within:g} s")


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """Asks a process to stop, and kills it if it has not within 10 s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Server:
    """One `parley serve` process and the database behind it."""

    dialect: str
    database_url: str
    admin_token: str
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log: Path) -> None:
        env = {
            **os.environ,
            **self.env,
            "PARLEY_DATABASE_URL": self.database_url,
            "PARLEY_ADMIN_TOKEN": self.admin_token,
        }
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "parley", "serve", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until_answering(self.process, self.url + "/healthz", within=30, what=f"parley serve (see {log})")

    def stop(self) -> None:
        stop_process(self.process)

    def kill(self) -> None:
        """Ends the process the hard way (SIGKILL): no shutdown code runs."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, to prove that a rejected request changed nothing."""
        if self.dialect == "sqlite":
            path = self.database_url.removeprefix("sqlite:///")
            with sqlite3.connect(path) as conn:
                return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES}
        return asyncio.run(_pg_snapshot(self.database_url))

    def execute(self, sql: str, *args: Any) -> None:
        """Runs one statement (`$n` parameters) on the database behind the server's back: a change
        no process is told about, unlike one made through the Admin API."""
        if self.dialect == "sqlite":
            path = self.database_url.removeprefix("sqlite:///")
            with closing(sqlite3.connect(path)) as conn, conn:
                conn.execute(re.sub(r"\$(\d+)", r"?\1", sql), args)
            return
        asyncio.run(_pg_execute(self.database_url, sql, *args))


async def _pg_snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(url)
    try:
        return {t: sorted(tuple(r) for r in await conn.fetch(f"SELECT * FROM {t}")) for t in TABLES}
    finally:
        await conn.close()


async def _pg_execute(url: str, statement: str, *args: Any) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


async def _pg_admin(statement: str) -> None:
    await _pg_execute(PG_ADMIN_URL, statement)


def postgres_available() -> bool:
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


@dataclass
class PostgresDatabase:
    """A database created for one test run and dropped after it."""

    name: str = field(default_factory=lambda: f"parley_test_{secrets.token_hex(6)}")

    @property
    def url(self) -> str:
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name

    def __enter__(self) -> "PostgresDatabase":
        asyncio.run(_pg_admin(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


class Api:
    """An httpx client that speaks as one caller: the admin, a bot, or an integration in a bot."""

    def __init__(self, server: Server, token: str, headers: dict[str, str] | None = None) -> None:
        self.server = server
        self.token = token
        self.headers = {"authorization": f"Bearer {token}", **(headers or {})}
        self.http = httpx.Client(base_url=server.url, headers=self.headers, timeout=30)

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        if body is not None:
            kwargs["json"] = body
        return self.http.request(method, path, **kwargs)

    def ok(self, method: str, path: str, body: Any = None, *, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, body, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def error(self, method: str, path: str, body: Any = None, *, type: str, status: int, **kwargs: Any) -> Any:
        """Asserts a contract error of `type` and `status`, and returns its body. A missing
        resource's message says "not found": real integrations decide on that phrase (Telegram's
        treats a missing state as missing only then), so every 404 asserted anywhere checks it."""
        response = self.call(method, path, body, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        payload = response.json()
        assert set(payload) >= {"id", "code", "type", "message"}, payload
        assert payload["type"] == type, payload
        if type == "ResourceNotFound":
            assert "not found" in payload["message"], payload
        assert payload["code"] == status
        assert payload["id"].startswith("err_")
        return payload


def eventually(probe: Callable[[], T | None], *, within: float = 5.0, what: str = "the condition") -> T:
    """Polls `probe` every 20 ms until it returns something other than None or an empty list;
    fails after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found is not None and found != []:
            return found
        assert time.monotonic() < deadline, f"{what}: not reached within {within} s"
        time.sleep(0.02)
