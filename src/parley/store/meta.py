"""The definitions epoch: bumped by every change to bots, integrations or installations, so that
each process can tell from one number whether its parsed definitions are still current."""

from parley.store.database import Connection


async def bump_epoch(conn: Connection) -> None:
    await conn.execute("UPDATE parley_meta SET value = value + 1 WHERE key = 'epoch'")


async def read_epoch(conn: Connection) -> int:
    value: int = await conn.fetch_value("SELECT value FROM parley_meta WHERE key = 'epoch'")
    return value
