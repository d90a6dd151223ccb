"""Building SQL with numbered `$n` parameters, and keyset pagination shared by every list."""

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from parley.store.database import Connection, R, Row


def select_list(shape: type[Row], alias: str = "r", *, prefix: str = "", **derived: str) -> str:
    """The SELECT list of the rows of `shape`, a TypedDict whose keys are the columns: each key as
    `alias.key` (bare without `alias`), or as `expression AS key` for a key `derived` gives an
    expression for. Queries name their columns here, from the TypedDict, and nowhere else. With
    `prefix`, each column is named `<prefix><key>`, for a row that carries another table's row
    beside its own (read back with `unprefixed`)."""
    keys = shape.__annotations__
    unknown = set(derived) - set(keys)
    if unknown:
        raise ValueError(f"{shape.__name__} has no column {', '.join(sorted(unknown))}")
    qualifier = f"{alias}." if alias else ""
    return ", ".join(
        f"{derived[key]} AS {prefix}{key}"
        if key in derived
        else f"{qualifier}{key} AS {prefix}{key}"
        if prefix
        else f"{qualifier}{key}"
        for key in keys
    )


def unprefixed(shape: type[R], row: Row, prefix: str) -> R:
    """The row of `shape` that a query selected into `row` with `select_list(..., prefix=prefix)`:
    a new dict, which costs a copy of its columns."""
    return {key: row[f"{prefix}{key}"] for key in shape.__annotations__}  # type: ignore[return-value]


class Params:
    """Collects arguments and hands out their `$n` placeholders in order."""

    def __init__(self, *initial: Any) -> None:
        self.args: list[Any] = list(initial)

    def __call__(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def many(self, values: Sequence[Any]) -> str:
        return ", ".join(self(value) for value in values)


class BadPageToken(ValueError):
    """A `nextToken` that this server did not hand out."""


@dataclass(frozen=True)
class Cursor:
    """The position after the last row of a page: its sort value and id."""

    value: str
    id: str

    def encode(self) -> str:
        raw = msgspec.json.encode([self.value, self.id])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            value, id_ = msgspec.json.decode(raw, type=tuple[str, str])
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise BadPageToken(token) from None
        if "\x00" in value or "\x00" in id_:
            raise BadPageToken(token)
        return cls(value, id_)


@dataclass(frozen=True)
class Order:
    """Sort column (`created_at` or `updated_at`) and direction; ties broken by id."""

    column: str = "created_at"
    descending: bool = True

    def after(self, params: Params, cursor: Cursor | None, alias: str = "r") -> str:
        if cursor is None:
            return ""
        op = "<" if self.descending else ">"
        return f" AND ({alias}.{self.column}, {alias}.id) {op} ({params(cursor.value)}, {params(cursor.id)})"

    def clause(self, alias: str = "r") -> str:
        direction = "DESC" if self.descending else "ASC"
        return f" ORDER BY {alias}.{self.column} {direction}, {alias}.id {direction}"


async def fetch_page(
    conn: Connection, shape: type[R], sql: str, params: Params, *, order: Order, cursor: Cursor | None, limit: int
) -> tuple[list[R], str | None]:
    """Runs a list query one row past the page to learn whether another page follows."""
    full = sql + order.after(params, cursor) + order.clause() + f" LIMIT {int(limit) + 1}"
    rows = await conn.fetch_all(shape, full, *params.args)
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, Cursor(str(last[order.column]), str(last["id"])).encode()
