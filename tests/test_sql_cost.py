"""A page costs the same few SQL statements whatever its size (no N+1)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from core.db import Database
from tests.graphql import ok, post, register

PAGE = """
query($first: Int) {
  homeTimeline(first: $first) {
    edges { cursor node {
      id text createdAt likeCount retweetCount replyCount viewerHasLiked viewerHasRetweeted hashtags
      author { handle displayName viewerIsFollowing }
      retweetOf { id text likeCount viewerHasLiked author { handle } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    target = db.engine.sync_engine
    event.listen(target, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(target, "before_cursor_execute", record)


async def test_timeline_page_costs_constant_statements(
    client: httpx.AsyncClient, db: Database
) -> None:
    viewer = await register(client)
    authors = await asyncio.gather(*(register(client) for _ in range(10)))
    follow = "mutation($id: ID!) { follow(userId: $id) { id } }"
    for author in authors:
        await ok(client, follow, {"id": author.id}, token=viewer.token)
    originals = []
    for n in range(120):
        originals.append(await post(client, authors[n % 10], f"tweet {n} #tag"))
    retweet = "mutation($id: ID!) { retweet(id: $id) { id } }"
    for n in range(0, 120, 7):
        await ok(client, retweet, {"id": originals[n]}, token=authors[(n + 1) % 10].token)

    await ok(client, PAGE, {"first": 1}, token=viewer.token)  # makes the Redis timeline live
    costs = {}
    for first in (20, 100):
        with counted(db) as statements:
            data = await ok(client, PAGE, {"first": first}, token=viewer.token)
        assert len(data["homeTimeline"]["edges"]) == first
        costs[first] = len(statements)
    assert costs[20] == costs[100], costs
    assert costs[100] <= 8, costs
    print(f"\nSQL statements per timeline page: first=20 -> {costs[20]}, first=100 -> {costs[100]}")
