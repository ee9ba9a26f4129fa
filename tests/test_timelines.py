"""Home timelines in Redis: fan-out, hybrid merging, rebuilds, follows, deletes, outages.

The session's hybrid threshold is 3 followers (tests/conftest.py): accounts with more are merged
at read time. Every test compares what Redis serves with what the database alone gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from app import create_app
from core.config import Settings
from core.ids import expect_global_id
from services import feed
from tests.graphql import Account, ok, post, register
from tests.test_social import FOLLOW, HOME, RETWEET, UNDO, UNFOLLOW

DELETE = "mutation($id: ID!) { deleteTweet(id: $id) }"
Settle = Callable[[], Awaitable[int]]
TTL = 3600


async def home(client: httpx.AsyncClient, account: Account, *, first: int = 100) -> list[str]:
    """Every entry of the home timeline, page by page."""
    ids: list[str] = []
    after = None
    while True:
        variables = {"first": first, "after": after}
        page = (await ok(client, HOME, variables, token=account.token))["homeTimeline"]
        ids += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return ids
        after = page["pageInfo"]["endCursor"]


async def stored(app: Starlette, account: Account) -> list[int] | None:
    """What Redis holds of the account's timeline (None: cold)."""
    user_id = expect_global_id(account.id, "User")
    return await feed.page(app.state.redis, user_id, before=None, count=10_000, ttl=TTL)


def raw(global_id: str) -> int:
    return expect_global_id(global_id, "Tweet")


async def follow(client: httpx.AsyncClient, who: Account, whom: Account) -> None:
    await ok(client, FOLLOW, {"id": whom.id}, token=who.token)


async def reader_of_writer(client: httpx.AsyncClient) -> tuple[Account, Account]:
    """A new reader following a new writer, with a live (read once, empty) timeline."""
    reader, writer = await register(client), await register(client)
    await follow(client, reader, writer)
    assert await home(client, reader) == []
    return reader, writer


async def test_a_tweet_is_fanned_out_into_live_timelines(
    client: httpx.AsyncClient, app: Starlette, settle: Settle
) -> None:
    reader, writer = await reader_of_writer(client)
    tweet = await post(client, writer, "fanned out")
    await settle()
    assert raw(tweet) in (await stored(app, reader) or [])
    assert await home(client, reader) == [tweet]


async def test_own_tweet_is_there_on_the_next_read(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    ann = await register(client)
    assert await home(client, ann) == []
    tweet = await post(client, ann, "mine, at once")
    assert await stored(app, ann) == []  # no fan-out has run: merged at read time
    assert await home(client, ann) == [tweet]


async def test_big_accounts_are_merged_at_read_time(
    client: httpx.AsyncClient, app: Starlette, settle: Settle
) -> None:
    star, friend, reader = await register(client), await register(client), await register(client)
    fans = [await register(client) for _ in range(3)]
    for account in (reader, *fans):
        await follow(client, account, star)  # 4 followers: above the threshold of 3
    await follow(client, reader, friend)
    assert await home(client, reader) == []
    posted = [await post(client, who, f"{i}") for i, who in enumerate([star, friend] * 3)]
    await settle()
    in_redis = await stored(app, reader) or []
    assert sorted(in_redis) == [raw(t) for t in posted[1::2]]  # the friend's only
    expected = posted[::-1]
    assert await home(client, reader) == expected
    assert await home(client, reader, first=1) == expected  # same cursors, page by page
    await app.state.redis.flushdb()
    assert await home(client, reader, first=2) == expected  # and the same from the database


async def test_an_account_shrinking_below_the_threshold_stays_merged(
    client: httpx.AsyncClient, app: Starlette, settle: Settle
) -> None:
    """Its tweets from when it was big were never fanned out: were it fanned out again, they
    would be in nobody's stored timeline (services/hybrid.py)."""
    star, reader = await register(client), await register(client)
    fans = [await register(client) for _ in range(3)]
    for account in (reader, *fans):
        await follow(client, account, star)
    await home(client, reader)
    big = await post(client, star, "while big")
    await ok(client, UNFOLLOW, {"id": star.id}, token=fans[0].token)  # 3 followers: not above
    small = await post(client, star, "after shrinking")
    await settle()
    assert await stored(app, reader) == []
    assert await home(client, reader) == [small, big]


async def test_pages_past_what_redis_holds_come_from_the_database(
    client: httpx.AsyncClient, app: Starlette, settle: Settle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "CAP", 4)
    reader, writer = await register(client), await register(client)
    await follow(client, reader, writer)
    posted = [await post(client, writer, f"old {i}") for i in range(6)]
    await home(client, reader)  # rebuilt with the newest 4
    assert await stored(app, reader) == [raw(t) for t in posted[:1:-1]]
    posted += [await post(client, writer, f"new {i}") for i in range(3)]
    await settle()
    assert await stored(app, reader) == [raw(t) for t in posted[:4:-1]]  # trimmed to 4
    for first in (1, 3, 100):
        assert await home(client, reader, first=first) == posted[::-1]


async def test_late_entries_below_a_full_timeline_are_refused(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fan-out that arrives after the timeline was trimmed past its tweet must not leave an
    entry below entries that Redis no longer holds (a reader would skip what lies between)."""
    monkeypatch.setattr(feed, "CAP", 3)
    redis, user = app.state.redis, 10**15
    await feed.rebuild(redis, user, [50, 40, 30], ttl=TTL)
    assert await feed.insert(redis, [user], [35, 20, 60]) == 2
    assert await feed.page(redis, user, before=None, count=10, ttl=TTL) == [60, 50, 40]
    assert await feed.insert(redis, [user], [35]) == 0  # now below the floor (40)
    await feed.rebuild(redis, user + 1, [50, 40], ttl=TTL)  # the whole timeline: no floor
    assert await feed.insert(redis, [user + 1], [1]) == 1
    assert await feed.insert(redis, [user + 2], [1]) == 0  # cold: left to the rebuild


async def test_follow_merges_and_unfollow_removes(
    client: httpx.AsyncClient, app: Starlette, settle: Settle
) -> None:
    reader, writer = await register(client), await register(client)
    posted = [await post(client, writer, f"{i}") for i in range(3)]
    assert await home(client, reader) == []
    await follow(client, reader, writer)
    assert await stored(app, reader) == [raw(t) for t in posted[::-1]]
    assert await home(client, reader) == posted[::-1]
    await ok(client, UNFOLLOW, {"id": writer.id}, token=reader.token)
    assert await stored(app, reader) == []
    assert await home(client, reader) == []
    await settle()  # the outbox jobs of both changes, late: they read the state, not replay it
    assert await stored(app, reader) == []


async def test_deleted_and_unretweeted_entries_leave_every_timeline(
    client: httpx.AsyncClient, app: Starlette, settle: Settle
) -> None:
    writer, retweeter = await register(client), await register(client)
    readers = [await register(client) for _ in range(2)]
    for reader in readers:
        await follow(client, reader, writer)
        await follow(client, reader, retweeter)
        await home(client, reader)
    kept, doomed = await post(client, writer, "kept"), await post(client, writer, "doomed")
    await ok(client, RETWEET, {"id": doomed}, token=retweeter.token)
    await ok(client, RETWEET, {"id": kept}, token=retweeter.token)
    await settle()
    assert [len(await stored(app, r) or []) for r in readers] == [4, 4]
    await ok(client, DELETE, {"id": doomed}, token=writer.token)  # takes its retweet along
    await ok(client, UNDO, {"id": kept}, token=retweeter.token)
    for reader in readers:
        assert await home(client, reader) == [kept]  # at once, before any job ran
    await settle()
    for reader in readers:
        assert await stored(app, reader) == [raw(kept)]


async def test_a_fan_out_that_runs_after_the_delete_adds_nothing(
    client: httpx.AsyncClient, app: Starlette, settle: Settle
) -> None:
    reader, writer = await reader_of_writer(client)
    tweet = await post(client, writer, "gone before its fan-out")
    await ok(client, DELETE, {"id": tweet}, token=writer.token)
    await settle()  # runs tweet.posted after the delete committed
    assert await stored(app, reader) == []
    assert await home(client, reader) == []


async def test_a_cold_timeline_is_rebuilt_once_under_a_stampede(
    client: httpx.AsyncClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer = await register(client), await register(client)
    await follow(client, reader, writer)
    posted = [await post(client, writer, f"{i}") for i in range(5)]
    rebuilds: list[int] = []
    original = feed.rebuild

    async def counted(redis: aioredis.Redis, user_id: int, *args: Any, **kwargs: Any) -> None:
        rebuilds.append(user_id)
        await asyncio.sleep(0.05)  # a slow rebuild, so that the others arrive meanwhile
        await original(redis, user_id, *args, **kwargs)

    monkeypatch.setattr(feed, "rebuild", counted)
    pages = await asyncio.gather(*(home(client, reader) for _ in range(20)))
    assert all(page == posted[::-1] for page in pages)
    assert rebuilds == [expect_global_id(reader.id, "User")]


async def test_flushed_redis_rebuilds_with_the_same_content(
    client: httpx.AsyncClient, app: Starlette, settle: Settle
) -> None:
    reader, writer = await reader_of_writer(client)
    posted = [await post(client, writer, f"{i}") for i in range(3)]
    await settle()
    before = await home(client, reader)
    await app.state.redis.flushdb()
    assert await stored(app, reader) is None
    assert await home(client, reader) == before == posted[::-1]
    assert await stored(app, reader) == [raw(t) for t in posted[::-1]]


async def test_redis_down_answers_from_the_database(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """Redis unreachable (a closed port: the client sees what it sees when the server is down)."""
    reader, writer = await register(client), await register(client)
    await follow(client, reader, writer)
    posted = [await post(client, writer, f"{i}") for i in range(3)]
    down = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0"))
    async with down.router.lifespan_context(down):
        transport = httpx.ASGITransport(app=down)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            assert await home(other, reader, first=2) == posted[::-1]
            tweet = await post(other, writer, "posted while Redis is down")
            follow_back = await other.post(
                "/graphql",
                json={"query": FOLLOW, "variables": {"id": writer.id}},
                headers={"Authorization": f"Bearer {reader.token}"},
            )
            assert "errors" not in follow_back.json()
            ready = await other.get("/readyz")
    assert ready.status_code == 503 and "redis" in ready.json()["failing"]
    assert await home(client, reader) == [tweet, *posted[::-1]]
