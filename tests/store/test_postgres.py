"""PostgreSQL's failures leave the store as the DatabaseError they stand for, not as asyncpg's."""

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest

from parley.store.database import Connection, DatabaseError, DatabaseUnavailable, InvalidText, StatementTimeout
from parley.store.postgres import PostgresDatabase
from tests.harness import PG_ADMIN_URL, postgres_available

STATEMENT_TIMEOUT_MS = 100


@pytest.fixture(scope="module", autouse=True)
def _postgres() -> None:
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432, and CI must run every test on it.")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432.")


def _raised(url: str, work: Callable[[Connection], Awaitable[object]]) -> BaseException | None:
    """What running `work` on a connection, and then in a transaction, raised (the same both times)."""

    async def run() -> BaseException | None:
        database = await PostgresDatabase.connect(
            url, min_size=0, max_size=1, statement_timeout_ms=STATEMENT_TIMEOUT_MS, acquire_timeout_ms=2000
        )
        raised: list[BaseException | None] = []
        try:
            for scope in (database.connection, database.transaction):
                try:
                    async with scope() as conn:
                        await work(conn)
                except Exception as error:
                    raised.append(error)
                else:
                    raised.append(None)
        finally:
            await database.close()
        assert type(raised[0]) is type(raised[1])
        return raised[0]

    return asyncio.run(run())


def test_a_statement_cut_off_by_the_statement_timeout_raises_statement_timeout() -> None:
    raised = _raised(PG_ADMIN_URL, lambda conn: conn.fetch_value("SELECT pg_sleep(1)"))
    assert isinstance(raised, StatementTimeout)


def test_text_with_the_nul_character_raises_invalid_text() -> None:
    raised = _raised(PG_ADMIN_URL, lambda conn: conn.fetch_value("SELECT $1::text", "a\x00b"))
    assert isinstance(raised, InvalidText)


def test_a_database_that_refuses_connections_raises_database_unavailable() -> None:
    raised = _raised("postgresql://postgres@127.0.0.1:1/postgres", lambda conn: conn.fetch_value("SELECT 1"))
    assert isinstance(raised, DatabaseUnavailable)
    assert isinstance(raised.__cause__, OSError)


def test_an_error_that_is_not_the_databases_passes_through_unchanged() -> None:
    async def fail(conn: Connection) -> None:
        await conn.fetch_value("SELECT 1")
        raise KeyError("not the database")

    raised = _raised(PG_ADMIN_URL, fail)
    assert isinstance(raised, KeyError)
    assert not isinstance(raised, DatabaseError)
