"""A page costs the same few SQL statements whatever its size (no N+1), and none when the
Redis cache is warm."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import event
from starlette.applications import Starlette

from core import redis_clients
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


# Statements the process runs on its own, whatever the request, which land in any window once
# their period comes round: the Snowflake worker id's lease renewal (core/worker_ids.py) and,
# with replicas, the poll of their lag (core/replicas.py).
BACKGROUND = ("UPDATE worker_ids", "SELECT (pg_current_wal_lsn()", "SELECT pg_is_in_recovery()")
# with replicas, a write asks the primary for its WAL position after its commit, for its
# author's next reads (core/read_your_writes.py): a statement of its own, by design
WAL_POSITION = "SELECT (pg_current_wal_insert_lsn()"


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    """The statements the primary and the replicas run while the block runs, less the
    process's own."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        if not args[2].startswith(BACKGROUND):
            statements.append(args[2])

    replicas = [member.reader for member in db.replicas.members] if db.replicas else []
    engines = [db.engine, *replicas]
    targets = [engine.sync_engine for engine in engines]
    for target in targets:
        event.listen(target, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for target in targets:
            event.remove(target, "before_cursor_execute", record)


async def test_timeline_page_costs_constant_statements(
    app: Starlette, client: httpx.AsyncClient, db: Database
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
    redis = app.state.redis
    cold: dict[int, int] = {}
    warm: dict[int, tuple[int, int]] = {}
    for first in (20, 100):
        await _drop_cache(redis)
        with counted(db) as statements:
            data = await ok(client, PAGE, {"first": first}, token=viewer.token)
        assert len(data["homeTimeline"]["edges"]) == first
        cold[first] = len(statements)
        calls = await _redis_calls(redis)
        with counted(db) as statements:
            again = await ok(client, PAGE, {"first": first}, token=viewer.token)
        assert again == data
        warm[first] = (len(statements), await _redis_calls(redis) - calls - 1)
    # 9 here: the token's generation, the viewer's safety set, the page's tweets and what
    # they retweet, authors, likes, retweets, images, follows (a background read may add one)
    assert cold[20] == cold[100] <= 10, cold
    assert warm[20][0] == warm[100][0] == 0, warm  # no SQL when the cache is warm
    # Redis commands, whatever the size: ~12 for the page, 6 for the two rate limit scripts
    # (each EVALSHA runs TIME and SET), ~3 to check that the token was not revoked. (On a
    # cluster the rows are read by a script a node, whose GETs the server counts one by one.)
    if not redis_clients.is_cluster(redis):
        assert max(warm[20][1], warm[100][1]) <= 24, warm
    print(
        f"\nper timeline page: cold cache {cold[20]} SQL statements (first=20 and 100); "
        f"warm: 0 SQL, {warm[20][1]} Redis commands"
    )


async def _drop_cache(redis: Redis) -> None:
    keys = [key async for key in redis.scan_iter(match="{c:*", count=1000)]
    if keys:
        await redis.delete(*keys)


async def _redis_calls(redis: Redis) -> int:
    """Commands the server has run so far (this one included)."""
    stats = await redis.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values())


async def test_create_tweet_is_one_statement(client: httpx.AsyncClient, db: Database) -> None:
    """The tweet, its author's count, its outbox row and the relay's wake-up in one statement;
    the answer comes from what that statement returned (the live Hub's read of the new
    position, in the same process, is not the request's)."""
    author = await register(client)
    await post(client, author, "the first, which prepares what a first post does")
    create = """mutation { createTweet(input: {text: "hello #one"}) {
      id text hashtags likeCount viewerHasLiked viewerHasRetweeted
      author { handle tweetCount } } }"""
    with counted(db) as statements:
        data = await ok(client, create, token=author.token)
    own = [s for s in statements if not s.startswith(("SELECT tweets.position", WAL_POSITION))]
    assert len(own) == 1, own
    tweet = data["createTweet"]
    assert tweet["author"] == {"handle": author.handle, "tweetCount": 2}
    assert tweet["hashtags"] == ["one"]
    assert not tweet["viewerHasLiked"] and not tweet["viewerHasRetweeted"]
    mine = """query($h: String!) { user(handle: $h) { tweetCount
      tweets(first: 1) { edges { node { id text } } } } }"""
    read = (await ok(client, mine, {"h": author.handle}))["user"]
    assert read["tweetCount"] == 2
    assert read["tweets"]["edges"][0]["node"] == {"id": tweet["id"], "text": "hello #one"}


async def test_the_safety_of_many_viewers_is_one_statement(
    app: Starlette, client: httpx.AsyncClient, db: Database
) -> None:
    """What a new tweet's live subscribers must not see is read for all of them at once (it
    was a statement per viewer: 5,000 subscribers waited seconds for the first event)."""
    from core.db import RequestReads
    from core.ids import expect_global_id
    from dataloaders import Loaders

    ann, bob, cy, dee = [await register(client) for _ in range(4)]
    block = "mutation($id: ID!) { block(userId: $id) { id } }"
    mute = "mutation($id: ID!) { mute(userId: $id) { id } }"
    word = 'mutation { muteWord(input: {word: "spoiler"}) { id } }'
    await ok(client, block, {"id": bob.id}, token=ann.token)
    await ok(client, mute, {"id": cy.id}, token=bob.token)
    await ok(client, word, token=cy.token)
    viewers = [expect_global_id(a.id, "User") for a in (ann, bob, cy, dee)]
    await _drop_cache(app.state.redis)
    reads = RequestReads(db)
    try:
        with counted(db) as statements:
            found = await Loaders(reads, app.state.redis, None, ttl=60).safety.load_many(viewers)
    finally:
        await reads.close()
    assert len(statements) == 1, statements
    a, b, c, d = found
    assert a.blocking == {viewers[1]} and b.blocked_by == {viewers[0]}
    assert set(b.muted) == {viewers[2]} and not a.muted
    assert [w for w, _ in c.words] == ["spoiler"] and not d.blocked and not d.words
