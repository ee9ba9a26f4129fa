"""Keyset pages: `first` entries after a cursor, ordered by a unique Snowflake key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from core import cursors
from core.errors import BadUserInput

PAGE_MAX = 100


@dataclass(frozen=True)
class Page:
    """Node ids in order, each with the cursor that resumes after it."""

    node_ids: list[int]
    cursors: list[str]
    has_next: bool
    has_previous: bool


def check_first(first: int | None, default: int = 20) -> int:
    """A page size from the client: null means the default."""
    if first is None:
        return default
    if not 1 <= first <= PAGE_MAX:
        raise BadUserInput(f"first must be between 1 and {PAGE_MAX}.")
    return first


async def keyset_page(
    connection: AsyncConnection,
    query: Select[int, int],
    *,
    key: InstrumentedAttribute[int],
    scope: str,
    first: int | None,
    after: str | None,
    ascending: bool = False,
) -> Page:
    """Runs `query` (selecting key, node id) for one page, newest first unless `ascending`."""
    first = check_first(first)
    if after is not None:
        (last,) = cursors.decode(after, scope)
        query = query.where(key > last if ascending else key < last)
    query = query.order_by(key.asc() if ascending else key.desc()).limit(first + 1)
    rows = (await connection.execute(query)).all()
    page = rows[:first]
    return Page(
        node_ids=[node for _, node in page],
        cursors=[cursors.encode(scope, sort_key) for sort_key, _ in page],
        has_next=len(rows) > first,
        has_previous=after is not None,
    )
