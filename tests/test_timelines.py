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
from core import ids
from core.config import Settings
from core.ids import expect_global_id
from services import fanout, feed
from services.home import database_page
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


async def rebuilt(redis: aioredis.Redis, user_id: int, newest: list[int]) -> None:
    """The user's timeline rebuilt from `newest`, as a reader of a cold one rebuilds it."""
    lock = await feed.rebuild_lock(redis, user_id)
    assert lock is not None and await feed.rebuild(redis, user_id, newest, lock=lock, ttl=TTL)


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
    assert await stored(app, ann) == [raw(tweet)]  # put there after the commit, no fan-out yet
    assert await home(client, ann) == [tweet]
    await ok(client, "mutation($id: ID!) { deleteTweet(id: $id) }", {"id": tweet}, token=ann.token)
    assert await stored(app, ann) == []
    assert await home(client, ann) == []


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


async def test_several_big_accounts_merge_into_one_page_past_what_redis_holds(
    client: httpx.AsyncClient, app: Starlette, settle: Settle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "CAP", 3)  # each big account's list holds its newest 3
    stars = [await register(client) for _ in range(3)]
    reader, fans = await register(client), [await register(client) for _ in range(3)]
    for star in stars:
        for account in (reader, *fans):
            await follow(client, account, star)
    posted = [await post(client, stars[i % 3], f"{i}") for i in range(14)]
    await settle()
    expected = posted[::-1]
    for first in (2, 5, 100):  # pages that end inside and below the lists Redis holds
        assert await home(client, reader, first=first) == expected
    held = [
        await feed.page(
            app.state.redis,
            expect_global_id(s.id, "User"),
            before=None,
            count=100,
            ttl=TTL,
            kind=feed.AUTHORED,
        )
        for s in stars
    ]
    assert [len(ids or []) for ids in held] == [3, 3, 3]


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


async def test_late_entries_below_a_full_timeline_stay_hidden(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fan-out that arrives after the timeline was trimmed past its tweet must not show an
    entry below entries that Redis no longer holds (a reader would skip what lies between)."""
    monkeypatch.setattr(feed, "CAP", 3)
    redis, user = app.state.redis, 10**15
    ms = 1 << 22  # ids n * ms: posted in millisecond n
    await rebuilt(redis, user, [50 * ms, 40 * ms, 30 * ms])  # floor 30
    await feed.insert(redis, [user], [35 * ms, 20 * ms, 60 * ms])  # 20 below; trimmed to 3
    newest = [60 * ms, 50 * ms, 40 * ms]
    assert await feed.page(redis, user, before=None, count=10, ttl=TTL) == newest
    for late in (35, 39, 32):  # below the raised floor (40), one by one: trimmed (32) or not
        await feed.insert(redis, [user], [late * ms])
    assert await feed.page(redis, user, before=None, count=10, ttl=TTL) == newest
    assert await feed.page(redis, user, before=50 * ms, count=10, ttl=TTL) == [40 * ms]
    await rebuilt(redis, user + 1, [50, 40])  # the whole timeline: no floor
    assert await feed.insert(redis, [user + 1], [1]) == 1
    assert await feed.page(redis, user + 1, before=None, count=10, ttl=TTL) == [50, 40, 1]
    assert await feed.insert(redis, [user + 2], [1]) == 0  # cold: left to the rebuild
    assert await feed.page(redis, user + 2, before=None, count=10, ttl=TTL) is None


async def test_a_timeline_stays_near_its_cap(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Single inserts trim on one tweet in TRIM_EVERY: a timeline never grows far past CAP."""
    monkeypatch.setattr(feed, "CAP", 5)
    redis, user = app.state.redis, 10**15 + 7
    await rebuilt(redis, user, [])
    for n in range(1, 200):
        await feed.insert(redis, [user], [n << 22])
        assert await redis.zcard(feed.key(user)) <= 1 + 5 + feed.TRIM_EVERY
    newest = await feed.page(redis, user, before=None, count=100, ttl=TTL)
    assert newest is not None and newest[:5] == [n << 22 for n in range(199, 194, -1)]


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


async def test_an_unfollow_between_a_fan_outs_read_and_its_insert_leaves_no_entry(
    client: httpx.AsyncClient, app: Starlette, settle: Settle, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer = await reader_of_writer(client)
    friend = await register(client)
    await follow(client, reader, friend)
    kept = await post(client, friend, "stays")
    await settle()
    tweet = await post(client, writer, "read for a follower who leaves before it is written")
    read_followers = fanout._followers

    async def unfollowed_meanwhile(connection: Any, user_id: int) -> Any:
        async for followers in read_followers(connection, user_id):
            # the batch is read; the unfollow and its removal land before the batch's insert
            await ok(client, UNFOLLOW, {"id": writer.id}, token=reader.token)
            yield followers

    monkeypatch.setattr(fanout, "_followers", unfollowed_meanwhile)
    stores = app.state.stores
    async with stores.db.read() as connection:
        done = await fanout.fan_out_tweet(
            connection,
            stores.redis,
            tweet_id=raw(tweet),
            threshold=app.state.settings.hybrid_threshold,
        )
        assert done is not None
        rebuilt = await database_page(
            connection, viewer_id=expect_global_id(reader.id, "User"), before=None, count=100
        )
    # before: the tweet of the account just unfollowed stayed in the timeline
    assert await stored(app, reader) == rebuilt == [raw(kept)]
    monkeypatch.undo()
    await settle()  # the jobs of the post and the unfollow, late
    assert await stored(app, reader) == rebuilt


async def test_following_a_prolific_account_keeps_the_timeline_whole(
    client: httpx.AsyncClient, app: Starlette, settle: Settle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "CAP", 4)
    reader, writer = await reader_of_writer(client)
    prolific = await register(client)
    older = [await post(client, prolific, f"old {i}") for i in range(3)]
    mine = [await post(client, writer, f"mine {i}") for i in range(2)]
    newer = [await post(client, prolific, f"new {i}") for i in range(3)]
    await settle()
    await follow(client, reader, prolific)  # 6 tweets, more than the 4 a timeline holds
    every = sorted([*older, *mine, *newer], key=raw, reverse=True)
    assert await stored(app, reader) == [raw(t) for t in every[:4]]  # raised floor: none below
    assert await home(client, reader, first=3) == every  # the rest from the database
    await settle()
    assert await home(client, reader, first=3) == every


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

    async def counted(redis: aioredis.Redis, user_id: int, *args: Any, **kwargs: Any) -> bool:
        rebuilds.append(user_id)
        await asyncio.sleep(0.05)  # a slow rebuild, so that the others arrive meanwhile
        return await original(redis, user_id, *args, **kwargs)

    monkeypatch.setattr(feed, "rebuild", counted)
    pages = await asyncio.gather(*(home(client, reader) for _ in range(20)))
    assert all(page == posted[::-1] for page in pages)
    assert rebuilds == [expect_global_id(reader.id, "User")]


async def test_a_tweet_that_commits_during_a_rebuild_is_kept_whatever_its_id(
    client: httpx.AsyncClient, app: Starlette, settle: Settle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits arrive out of id order: a tweet with a lower id than the newest one the rebuild
    read commits, and is fanned out, between that read and the rebuild's write."""
    reader, writer = await register(client), await register(client)
    await follow(client, reader, writer)
    low = ids.new_id()  # minted before, committed after the newest
    newest = await post(client, writer, "newest")
    await settle()  # the reader's timeline is cold: nothing fanned out into it
    late: list[str] = []
    write = feed.rebuild

    async def racing(redis: aioredis.Redis, user_id: int, *args: Any, **kwargs: Any) -> bool:
        minted, real = iter([low]), ids.new_id
        monkeypatch.setattr(ids, "new_id", lambda: next(minted, None) or real())
        late.append(await post(client, writer, "late, with a lower id"))
        monkeypatch.setattr(ids, "new_id", real)
        await settle()  # its fan-out, while the rebuild has read and not written
        return await write(redis, user_id, *args, **kwargs)

    monkeypatch.setattr(feed, "rebuild", racing)
    assert await stored(app, reader) is None
    await home(client, reader)  # cold: rebuilt
    monkeypatch.setattr(feed, "rebuild", write)
    assert raw(late[0]) < raw(newest)
    assert await stored(app, reader) == [raw(newest), raw(late[0])]
    assert await home(client, reader) == [newest, late[0]]


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
