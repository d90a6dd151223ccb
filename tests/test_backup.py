"""`parley db backup` copies a SQLite database consistently while a server writes to it;
`parley db restore` puts a copy back, and refuses a database a server has open."""

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import make_bot, running_server
from tests.harness import Api, Server


def _parley(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parley", "db", *args], capture_output=True, text=True, timeout=120, check=False
    )


def _messages(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count: int = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        # Each message was written with its tag index entry, in one transaction.
        tagged = conn.execute("SELECT count(*) FROM tag_index WHERE kind = 'message'").fetchone()[0]
        assert tagged == count, "the copy is one consistent moment of the database"
        return count


def test_a_backup_under_load_restores_to_a_working_server(work_dir: Path) -> None:
    copy = work_dir / "backup-copy.db"
    with running_server("sqlite", work_dir, "backup-live") as server:
        live = Path(server.database_url.removeprefix("sqlite:///"))
        bot = make_bot(Api(server, server.admin_token))
        conversation = bot.api.ok("POST", "/v1/chat/conversations", {"channel": "web", "tags": {}}, status=201)
        conversation_id = conversation["conversation"]["id"]
        stop, written = threading.Event(), [0]

        def write() -> None:
            while not stop.is_set():
                body = {
                    "conversationId": conversation_id,
                    "userId": bot.id,
                    "type": "text",
                    "payload": {"text": "x" * 2000},
                    "tags": {"externalId": f"m-{written[0]}"},
                }
                bot.api.ok("POST", "/v1/chat/messages", body, status=201)
                written[0] += 1

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        try:
            while written[0] < 200:
                threading.Event().wait(0.05)
            at_start = written[0]
            made = _parley("backup", str(copy), "--database-url", server.database_url)
            at_end = written[0]
        finally:
            stop.set()
            writer.join(10)
        assert made.returncode == 0, made.stderr
        assert "pages" in made.stdout
        assert f"into {copy}" in made.stdout
        assert at_end > at_start, "the server kept writing during the backup"
        copied = _messages(copy)
        assert at_start <= copied <= at_end

        refused = _parley("restore", str(copy), "--database-url", server.database_url)
        assert refused.returncode != 0
        assert "in use" in refused.stderr
        assert _messages(live) >= at_end, "a refused restore leaves the database as it was"
        again = _parley("backup", str(copy), "--database-url", server.database_url)
        assert again.returncode != 0
        assert "exists" in again.stderr

    restored = work_dir / "backup-restored.db"
    done = _parley("restore", str(copy), "--database-url", f"sqlite:///{restored}")
    assert done.returncode == 0, done.stderr
    revived = Server("sqlite", f"sqlite:///{restored}", server.admin_token)
    revived.start(work_dir / "backup-restored.log")
    try:
        listed = Api(revived, bot.api.token, {"x-bot-id": bot.id}).ok(
            "GET", "/v1/chat/messages", params={"conversationId": conversation_id, "pageSize": 100}
        )
        assert len(listed["messages"]) == min(copied, 100)
        assert _messages(restored) == copied
    finally:
        revived.stop()


def test_postgresql_is_pointed_to_pg_dump() -> None:
    refused = _parley("backup", "/tmp/never.db", "--database-url", "postgresql://postgres@127.0.0.1:5432/postgres")
    assert refused.returncode != 0
    assert "pg_dump" in refused.stderr
