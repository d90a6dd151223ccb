"""The start-up contract: `parley migrate`, `parley serve`, settings and the generated admin token."""

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from parley.store.tables import metadata
from tests.harness import PostgresDatabase, free_port, postgres_available


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(overrides)
    return env


def _parley(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parley", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_migrate_creates_the_schema_of_an_empty_sqlite_database(tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    result = _parley("migrate", env=_env(PARLEY_DATABASE_URL=f"sqlite:///{database}"))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"bots", "users", "conversations", "messages", "tag_index", "alembic_version"} <= tables
    again = _parley("migrate", env=_env(PARLEY_DATABASE_URL=f"sqlite:///{database}"))
    assert again.returncode == 0, again.stderr
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == [], "the migrations build the schema that parley.store.tables declares"


def test_migrate_creates_the_schema_on_postgresql() -> None:
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432.")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432.")
    with PostgresDatabase() as database:
        result = _parley("migrate", env=_env(PARLEY_DATABASE_URL=database.url))
        assert result.returncode == 0, result.stderr
        assert "postgresql" in result.stdout


def test_a_bad_setting_is_refused_with_its_name() -> None:
    result = _parley("migrate", env=_env(PARLEY_DATABASE_URL="mysql://x"))
    assert result.returncode == 2
    assert "PARLEY_DATABASE_URL" in result.stderr
    result = _parley("serve", env=_env(PARLEY_PORT="eighty"))
    assert result.returncode == 2
    assert "PARLEY_PORT" in result.stderr


def _serve_once(database: Path, log: Path) -> tuple[str, int]:
    """Starts `parley serve` without an admin token, waits for it and for whatever token it printed to
    work against the Admin API, stops it; returns its stderr and port."""
    port = free_port()
    env = _env(PARLEY_DATABASE_URL=f"sqlite:///{database}")
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "parley", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/admin/bots", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        for token in re.findall(r"bp_pat_[A-Za-z0-9_-]{40,}", log.read_text()):
            answer = httpx.get(f"http://127.0.0.1:{port}/v1/admin/bots", headers={"authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text
    finally:
        process.terminate()
        process.wait(10)
    return log.read_text(), port


def test_serve_without_a_token_generates_one_and_prints_it_only_once(tmp_path: Path) -> None:
    database = tmp_path / "token.db"
    first, _ = _serve_once(database, tmp_path / "first.log")
    tokens = re.findall(r"bp_pat_[A-Za-z0-9_-]{40,}", first)
    assert len(tokens) == 1
    second, _ = _serve_once(database, tmp_path / "second.log")
    assert "bp_pat_" not in second
    with sqlite3.connect(database) as conn:
        stored = [row[0] for row in conn.execute("SELECT token_hash FROM api_keys WHERE kind = 'admin'")]
    assert len(stored) == 1
    assert tokens[0] not in stored[0]
