"""Settings: read from `PARLEY_*` environment variables, overridden by CLI flags, checked at start-up."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///parley.db"


class SettingsError(ValueError):
    """A setting has a value Parley cannot run with."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    admin_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 16 * 1024 * 1024
    sqlite_synchronous: str = "NORMAL"
    pg_pool_min: int = 2
    pg_pool_max: int = 10
    pg_statement_timeout_ms: int = 30_000
    pg_acquire_timeout_ms: int = 10_000
    clock: str = "system"
    public_url: str | None = None
    dispatch: bool = True
    dispatch_timeout_ms: int = 30_000
    dispatch_retry_base_ms: int = 1_000
    dispatch_retry_max_ms: int = 60_000
    dispatch_max_attempts: int = 10
    dispatch_concurrency: int = 32
    # How often the scheduler and the dispatcher look for work that nothing told them about (a
    # lease that ran out, an announcement missed while the listening connection was down).
    poll_ms: int = 1_000
    # Days that done deliveries and finished events are kept.
    retention_days: int = 30
    # Origins whose pages may call the Chat API from a browser (CORS); "*" for any.
    cors_origins: tuple[str, ...] = ()
    # A Chat API stream with nothing to say sends a keep-alive this often.
    chat_keepalive_ms: int = 15_000

    @property
    def base_url(self) -> str:
        """Where bots and integrations reach this server (webhook URLs are built on it)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def dialect(self) -> str:
        return "postgresql" if self.database_url.startswith(("postgresql://", "postgres://")) else "sqlite"

    @property
    def sqlite_path(self) -> str:
        """The file of a `sqlite:///relative` or `sqlite:////absolute` URL."""
        return self.database_url.removeprefix("sqlite://").removeprefix("/") or "parley.db"

    def with_overrides(self, **overrides: Any) -> "Settings":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _switch(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "on").lower()
    if raw not in ("on", "off"):
        raise SettingsError(f"{name} must be on or off, got {raw!r}")
    return raw == "on"


def _origins(raw: str) -> tuple[str, ...]:
    """`PARLEY_CORS_ORIGINS`: origins separated by commas (`https://shop.example,http://localhost:3000`),
    or `*`. An origin is a scheme and a host, with a port if any, and no path."""
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in origins:
        if origin != "*" and (not origin.startswith(("http://", "https://")) or "/" in origin.split("://", 1)[1]):
            raise SettingsError(f"PARLEY_CORS_ORIGINS must list origins such as https://example.com, got {origin!r}")
    return origins


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment; raises SettingsError naming the bad variable."""
    env = os.environ if env is None else env
    url = env.get("PARLEY_DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith(("sqlite://", "postgresql://", "postgres://")):
        raise SettingsError(
            f"PARLEY_DATABASE_URL must start with sqlite:// or postgresql://, got {url.split(':')[0]!r}"
        )
    synchronous = (env.get("PARLEY_SQLITE_SYNCHRONOUS") or "NORMAL").upper()
    if synchronous not in ("NORMAL", "FULL"):
        raise SettingsError(f"PARLEY_SQLITE_SYNCHRONOUS must be NORMAL or FULL, got {synchronous!r}")
    clock = (env.get("PARLEY_CLOCK") or "system").lower()
    if clock not in ("system", "adjustable"):
        raise SettingsError(f"PARLEY_CLOCK must be system or adjustable, got {clock!r}")
    settings = Settings(
        database_url=url,
        admin_token=env.get("PARLEY_ADMIN_TOKEN") or None,
        host=env.get("PARLEY_HOST") or "127.0.0.1",
        port=_int(env, "PARLEY_PORT", 8080, minimum=0),
        max_body_bytes=_int(env, "PARLEY_MAX_BODY_BYTES", 16 * 1024 * 1024, minimum=1024),
        sqlite_synchronous=synchronous,
        pg_pool_min=_int(env, "PARLEY_PG_POOL_MIN", 2, minimum=1),
        pg_pool_max=_int(env, "PARLEY_PG_POOL_MAX", 10, minimum=1),
        pg_statement_timeout_ms=_int(env, "PARLEY_PG_STATEMENT_TIMEOUT_MS", 30_000, minimum=1),
        pg_acquire_timeout_ms=_int(env, "PARLEY_PG_ACQUIRE_TIMEOUT_MS", 10_000, minimum=1),
        clock=clock,
        public_url=env.get("PARLEY_PUBLIC_URL") or None,
        dispatch=_switch(env, "PARLEY_DISPATCH"),
        dispatch_timeout_ms=_int(env, "PARLEY_DISPATCH_TIMEOUT_MS", 30_000, minimum=1),
        dispatch_retry_base_ms=_int(env, "PARLEY_DISPATCH_RETRY_BASE_MS", 1_000, minimum=1),
        dispatch_retry_max_ms=_int(env, "PARLEY_DISPATCH_RETRY_MAX_MS", 60_000, minimum=1),
        dispatch_max_attempts=_int(env, "PARLEY_DISPATCH_MAX_ATTEMPTS", 10, minimum=1),
        dispatch_concurrency=_int(env, "PARLEY_DISPATCH_CONCURRENCY", 32, minimum=1),
        poll_ms=_int(env, "PARLEY_POLL_MS", 1_000, minimum=10),
        retention_days=_int(env, "PARLEY_RETENTION_DAYS", 30, minimum=1),
        cors_origins=_origins(env.get("PARLEY_CORS_ORIGINS") or ""),
        chat_keepalive_ms=_int(env, "PARLEY_CHAT_KEEPALIVE_MS", 15_000, minimum=10),
    )
    if settings.pg_pool_max < settings.pg_pool_min:
        raise SettingsError("PARLEY_PG_POOL_MAX must not be smaller than PARLEY_PG_POOL_MIN")
    return settings
