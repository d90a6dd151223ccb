"""Copies of a SQLite database: made while a server uses it, and put back while none does.

A copy is SQLite's online backup, a few thousand pages a step, inside one read transaction: every
step reads the same snapshot, so the copy is consistent and finishes whatever the server writes
meanwhile (WAL readers do not block writers). Servers hold a shared lock on the database file
(`flock`, which SQLite's own locks ignore) for as long as they run; restoring takes it exclusive,
so a database in use is never overwritten."""

import fcntl
import os
import sqlite3
from collections.abc import Callable

# Pages copied per step: a progress line every 4,096 pages (16 MiB with 4 KiB pages).
PAGES_PER_STEP = 4096

Progress = Callable[[int, int], None]


class DatabaseInUse(Exception):
    """A server has the database open."""


class NotADatabase(Exception):
    """The file is not a sound SQLite database."""


def hold(path: str) -> int:
    """A descriptor holding the shared "in use" lock on the database file, for a server's life."""
    descriptor = os.open(path, os.O_RDONLY)
    fcntl.flock(descriptor, fcntl.LOCK_SH)
    return descriptor


def release(descriptor: int) -> None:
    os.close(descriptor)


def _copy(source: sqlite3.Connection, target: sqlite3.Connection, progress: Progress) -> None:
    source.execute("BEGIN")
    try:
        # The snapshot every step reads is taken here.
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        source.backup(target, pages=PAGES_PER_STEP, progress=lambda _, left, total: progress(total - left, total))
    finally:
        source.execute("COMMIT")


def backup(database: str, copy: str, progress: Progress) -> None:
    """Copies `database` (in use or not) into the new file `copy`, written under a temporary
    name and renamed once complete."""
    if os.path.exists(copy):
        raise FileExistsError(f"{copy} exists already; a backup never overwrites a file.")
    partial = f"{copy}.partial"
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None)
    target = sqlite3.connect(partial)
    try:
        _copy(source, target, progress)
    finally:
        target.close()
        source.close()
    os.replace(partial, copy)


def restore(copy: str, database: str, progress: Progress) -> None:
    """Replaces the contents of `database` with the backup `copy`; DatabaseInUse while a server
    has it open, NotADatabase when `copy` is not a sound SQLite database."""
    source = sqlite3.connect(f"file:{copy}?mode=ro", uri=True, isolation_level=None)
    try:
        try:
            sound = source.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        except sqlite3.DatabaseError:
            sound = False
        if not sound:
            raise NotADatabase(f"{copy} is not a sound SQLite database.")
        descriptor = os.open(database, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DatabaseInUse(f"{database} is in use by a running server; stop it first.") from None
            target = sqlite3.connect(database)
            try:
                _copy(source, target, progress)
            finally:
                target.close()
        finally:
            os.close(descriptor)
    finally:
        source.close()
