"""The unit of work (services/work.py): events into the outbox with the change, their effects
after the commit, each on its own, and broken constraints told apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette

from core import ids
from core.db import Database, RequestReads
from core.errors import NotFound
from core.ids import expect_global_id
from models import Like, OutboxEvent, Tweet
from schema.context import Context
from services import cache, effects, engagement, events, live, tweets
from services.events import TweetLiked, TweetPosted
from services.stores import Stores
from services.work import unit_of_work
from tests import rest
from tests.graphql import error_code, ok, post, register

Settle = Callable[[], Awaitable[int]]
LIKE = "mutation($id: ID!) { likeTweet(id: $id) { likeCount } }"
ANSWERED = """
mutation($i: CreateTweetInput!) {
  createTweet(input: $i) { id text likeCount viewerHasLiked author { handle tweetCount } }
}
"""
REPLY = "mutation($i: CreateTweetInput!) { createTweet(input: $i) { id } }"


def _stores(app: Starlette) -> Stores:
    stores: Stores = app.state.stores
    return stores


async def test_the_events_go_into_the_outbox_in_the_same_transaction(app: Starlette) -> None:
    stores = _stores(app)
    async with unit_of_work(stores) as work:
        author = await _user(work)
        tweet_id = (
            await tweets.post_tweet(work, author_id=author, text="counted", limiter=None)
        ).id
        # the post writes its event with the tweet, and the one before it, in their order
        written = [events.UserChanged(author), TweetPosted(tweet_id, author_id=author)]
        assert await _kept(work.session, author, tweet_id) == written
        assert work.unstored == []
        await engagement.like_tweet(work, actor_id=author, tweet_id=tweet_id)
        assert await _kept(work.session, author, tweet_id) == written  # as the block ends
    async with stores.db.transaction() as session:
        kept = await _kept(session, author, tweet_id)
    assert kept == [*written, TweetLiked(tweet_id, author)]


async def _kept(session: Any, user_id: int, tweet_id: int) -> list[events.Event]:
    rows = await session.execute(
        select(OutboxEvent.topic, OutboxEvent.payload)
        .where(
            (OutboxEvent.payload["user_id"].as_string() == str(user_id))
            | (OutboxEvent.payload["tweet_id"].as_string() == str(tweet_id))
        )
        .order_by(OutboxEvent.id)
    )
    return [events.decode(topic, payload) for topic, payload in rows.all()]


async def test_a_block_that_raises_keeps_nothing_and_has_no_effects(app: Starlette) -> None:
    stores = _stores(app)
    published = await _stream_length(stores.redis)
    with pytest.raises(NotFound):
        async with unit_of_work(stores) as work:
            author = await _user(work)
            await tweets.post_tweet(work, author_id=author, text="gone", limiter=None)
            raise NotFound("undone")
    assert await _stream_length(stores.redis) == published
    async with stores.db.read() as connection:
        assert await connection.scalar(select(Tweet.id).where(Tweet.text == "gone")) is None


async def test_a_reply_racing_the_delete_of_its_parent_is_not_found(
    client: httpx.AsyncClient, db: Database
) -> None:
    author = await register(client)
    parent = await post(client, author, "deleted while replied to")
    async with db.transaction() as deleting:
        await deleting.execute(delete(Tweet).where(Tweet.id == expect_global_id(parent, "Tweet")))
        variables = {"i": {"text": "too late", "replyToId": parent}}
        reply = asyncio.create_task(error_code(client, REPLY, variables, token=author.token))
        await until_waiting_for_a_lock(db)  # the reply counts on the parent, locked by the delete
    # before: the foreign key's IntegrityError was INTERNAL_SERVER_ERROR
    assert await reply == "NOT_FOUND"


async def test_a_like_racing_the_delete_of_its_tweet_is_not_found(
    client: httpx.AsyncClient, db: Database
) -> None:
    author = await register(client)
    fan = await register(client)
    tweet_id = await post(client, author, "deleted while liked")
    async with db.transaction() as deleting:
        await deleting.execute(delete(Tweet).where(Tweet.id == expect_global_id(tweet_id, "Tweet")))
        like = asyncio.create_task(error_code(client, LIKE, {"id": tweet_id}, token=fan.token))
        await until_waiting_for_a_lock(db)  # the like's foreign key waits for the delete
    assert await like == "NOT_FOUND"


async def test_an_id_minted_twice_is_never_taken_for_a_missing_tweet(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = _stores(app)
    async with unit_of_work(stores) as work:
        author, fan = await _user(work), await _user(work)
        first = (await tweets.post_tweet(work, author_id=author, text="one", limiter=None)).id
        second = (await tweets.post_tweet(work, author_id=author, text="two", limiter=None)).id
        await engagement.like_tweet(work, actor_id=fan, tweet_id=first)
        taken = await work.session.scalar(select(Like.id).where(Like.tweet_id == first))
    assert taken is not None
    monkeypatch.setattr(ids, "new_id", lambda: taken)  # the same worker id in two processes
    # before: any IntegrityError of a like was NOT_FOUND ("No such tweet.")
    with pytest.raises(IntegrityError, match="uq_likes_id"):
        async with unit_of_work(stores) as work:
            await engagement.like_tweet(work, actor_id=fan, tweet_id=second)


@pytest.fixture
def read_connection_dies_after_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between a mutation's commit and its answer, the server ends the connection the request
    reads on (as a restart does, or a timeout of a connection idle in the pool)."""
    commit = Context.work

    @asynccontextmanager
    async def work(self: Context) -> AsyncIterator[Any]:
        async with commit(self) as done:
            yield done
        async with self.reads.connection() as connection:
            pid = await connection.scalar(text("SELECT pg_backend_pid()"))
            server = connection.engine  # the primary's, or a replica's
        async with server.connect() as other:
            ended = text("SELECT pg_terminate_backend(:pid, 5000)")
            assert await other.scalar(ended, {"pid": pid})

    monkeypatch.setattr(Context, "work", work)


@pytest.mark.usefixtures("read_connection_dies_after_commit")
async def test_a_mutation_answers_its_data_when_its_read_connection_died_after_the_commit(
    client: httpx.AsyncClient, db: Database
) -> None:
    ann = await register(client)
    data = await ok(client, ANSWERED, {"i": {"text": "committed, then read back"}}, token=ann.token)
    # before: INTERNAL_SERVER_ERROR after the commit, and a client that retries posts it twice
    assert data["createTweet"]["text"] == "committed, then read back"
    assert data["createTweet"]["author"]["tweetCount"] == 1
    assert await count_tweets(db, ann, "committed, then read back") == 1
    liked = await ok(client, LIKE, {"id": data["createTweet"]["id"]}, token=ann.token)
    assert liked == {"likeTweet": {"likeCount": 1}}  # every mutation's answer alike


@pytest.mark.usefixtures("read_connection_dies_after_commit")
async def test_a_rest_post_answers_201_when_its_read_connection_died_after_the_commit(
    client: httpx.AsyncClient, db: Database
) -> None:
    ann = await rest.register(client)
    answer = await rest.call(client, "POST", "/tweets", ann, json={"text": "posted by REST"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["text"] == "posted by REST"
    assert await count_tweets(db, ann, "posted by REST") == 1


async def test_with_the_database_away_after_the_commit_create_tweet_answers_what_it_wrote(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    away = Database.connect("postgresql+asyncpg://postgres@127.0.0.1:1/chirp")  # a closed port
    commit = Context.work

    @asynccontextmanager
    async def work(self: Context) -> AsyncIterator[Any]:
        async with commit(self) as done:
            yield done
        self.reads = RequestReads(away)  # every read from here on is refused
        self.after_write()

    ann = await register(client)
    monkeypatch.setattr(Context, "work", work)
    try:
        data = await ok(client, ANSWERED, {"i": {"text": "as written"}}, token=ann.token)
    finally:
        await away.dispose()
    # before: INTERNAL_SERVER_ERROR, for a tweet that was posted
    assert data["createTweet"] == {
        "id": data["createTweet"]["id"],
        "text": "as written",
        "likeCount": 0,
        "viewerHasLiked": False,
        "author": {"handle": ann.handle, "tweetCount": 1},
    }
    assert await count_tweets(db, ann, "as written") == 1


async def count_tweets(db: Database, account: Any, text_: str) -> int:
    """How many tweets of the account have this text."""
    author = expect_global_id(account.id, "User")
    async with db.read() as connection:
        found = await connection.scalar(
            select(func.count()).where(Tweet.author_id == author, Tweet.text == text_)
        )
    return int(found or 0)


async def test_one_failing_effect_skips_none_of_the_others(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = _stores(app)
    async with unit_of_work(stores) as work:
        author, fan = await _user(work), await _user(work)
        tweet_id = (await tweets.post_tweet(work, author_id=author, text="liked", limiter=None)).id

    async def failing(redis: aioredis.Redis, keys: Any) -> None:
        raise ConnectionError("Redis went away after the commit")

    monkeypatch.setattr(cache, "forget", failing)  # the first effect
    published = await _stream_length(stores.redis)
    async with unit_of_work(stores) as work:
        await engagement.like_tweet(work, actor_id=fan, tweet_id=tweet_id)
    assert await _stream_length(stores.redis) == published + 1  # still announced


async def test_a_change_announced_nowhere_after_its_commit_is_announced_by_its_job(
    app: Starlette, settle: Settle, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = _stores(app)
    async with unit_of_work(stores) as work:
        author, fan = await _user(work), await _user(work)
        tweet_id = (
            await tweets.post_tweet(work, author_id=author, text="watched", limiter=None)
        ).id
    await settle()
    down = replace(stores, redis=aioredis.from_url("redis://127.0.0.1:1/0"))
    async with unit_of_work(down) as work:  # commits; every effect after it fails
        await engagement.like_tweet(work, actor_id=fan, tweet_id=tweet_id)
    await down.redis.aclose()
    assert await settle() >= 1
    announced = await stores.redis.xrevrange(live.STREAM, count=10)
    updates = [fields for _, fields in announced if fields.get("topic") == live.TWEET_UPDATED]
    assert {"topic": live.TWEET_UPDATED, "tweet": str(tweet_id)} in updates


@pytest.mark.parametrize(
    "action",
    [
        "post",
        "reply",
        "retweet",
        "undo",
        "like",
        "unlike",
        "edit",
        "delete",
        "follow",
        "unfollow",
        "profile",
        "password",
    ],
)
async def test_the_cached_state_and_the_events_read_as_a_fresh_read(
    app: Starlette, action: str
) -> None:
    """Zulip's rule for every event publisher: the state before, plus its events, equals a
    fresh read. Here the state is what the cache holds; the events' effects drop what changed."""
    stores = _stores(app)
    async with unit_of_work(stores) as work:
        ann, bob = await _user(work), await _user(work)
        tweet_id = (await tweets.post_tweet(work, author_id=ann, text="first", limiter=None)).id
        if action in ("undo", "unlike", "unfollow"):
            await _act(
                work, action.replace("undo", "retweet").removeprefix("un"), ann, bob, tweet_id
            )
    users, tweet_ids = [ann, bob], [tweet_id]
    before = await _cached(stores, bob, users, tweet_ids)  # every value now in the cache
    async with unit_of_work(stores) as work:
        created = await _act(work, action, ann, bob, tweet_id)
    tweet_ids += [created] if created is not None else []
    assert await _cached(stores, bob, users, tweet_ids) == await _fresh(
        stores, bob, users, tweet_ids
    )
    assert before != await _fresh(stores, bob, users, tweet_ids)  # the action changed something


async def _act(work: Any, action: str, ann: int, bob: int, tweet_id: int) -> int | None:
    from services import accounts, graph

    match action:
        case "post":
            return (await tweets.post_tweet(work, author_id=bob, text="second", limiter=None)).id
        case "reply":
            reply = await tweets.post_tweet(
                work, author_id=bob, text="re", reply_to_id=tweet_id, limiter=None
            )
            return reply.id
        case "retweet":
            await engagement.retweet(work, actor_id=bob, tweet_id=tweet_id)
        case "undo":
            await engagement.undo_retweet(work, actor_id=bob, tweet_id=tweet_id)
        case "like":
            await engagement.like_tweet(work, actor_id=bob, tweet_id=tweet_id)
        case "unlike":
            await engagement.unlike_tweet(work, actor_id=bob, tweet_id=tweet_id)
        case "edit":
            await tweets.edit_tweet(work, actor_id=ann, tweet_id=tweet_id, text="edited")
        case "delete":
            await tweets.delete_tweet(work, actor_id=ann, tweet_id=tweet_id)
        case "follow":
            await graph.follow(work, actor_id=bob, user_id=ann)
        case "unfollow":
            await graph.unfollow(work, actor_id=bob, user_id=ann)
        case "profile":
            await accounts.update_profile(work, user_id=ann, display_name="Renamed", bio="new")
        case "password":
            await accounts.change_password(
                work, user_id=ann, current_password="password1", new_password="password2"
            )
    return None


async def _cached(stores: Stores, viewer: int, users: list[int], tweet_ids: list[int]) -> Any:
    """What readers see through the cache (filling it)."""
    from core.db import RequestReads
    from dataloaders import Loaders

    reads = RequestReads(stores.db)
    try:
        loaders = Loaders(reads, stores.redis, viewer, ttl=600)
        return await _read(loaders, stores, users, tweet_ids, cached=True)
    finally:
        await reads.close()


async def _fresh(stores: Stores, viewer: int, users: list[int], tweet_ids: list[int]) -> Any:
    """What readers see from the database alone."""
    from core.db import RequestReads
    from dataloaders import Loaders

    reads = RequestReads(stores.db)
    nowhere = aioredis.from_url("redis://127.0.0.1:1/0")  # every cache read fails: the database
    try:
        loaders = Loaders(reads, nowhere, viewer, ttl=600)
        return await _read(loaders, stores, users, tweet_ids, cached=False)
    finally:
        await nowhere.aclose()
        await reads.close()


async def _read(
    loaders: Any, stores: Stores, users: list[int], tweet_ids: list[int], *, cached: bool
) -> Any:
    from core.security import Identity
    from services import tokens

    tweets_read = await loaders.tweets.load_many(tweet_ids)
    users_read = await loaders.users.load_many(users)
    flags = [
        await loaders.viewer_likes.load_many(tweet_ids),
        await loaders.viewer_retweets.load_many(tweet_ids),
        await loaders.viewer_follows.load_many(users),
        await loaders.follows_viewer.load_many(users),
    ]
    redis = stores.redis if cached else aioredis.from_url("redis://127.0.0.1:1/0")
    try:
        generations = [
            await tokens.is_current(stores.db, redis, Identity(user, 0.0, 0), ttl=600)
            for user in users
        ]
    finally:
        if not cached:
            await redis.aclose()
    return tweets_read, users_read, flags, generations


async def _user(work: Any) -> int:
    from services import accounts
    from tests.graphql import unique_handle

    user = await accounts.register(
        work, handle=unique_handle("w"), password="password1", display_name=None
    )
    return int(user.id)


async def _stream_length(redis: aioredis.Redis) -> int:
    return int(await redis.xlen(live.STREAM))


async def until_waiting_for_a_lock(db: Database, *, waiters: int = 1) -> None:
    """Until `waiters` sessions of the test database wait for a lock (other databases of the
    server may have their own)."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    for _ in range(400):
        async with db.read() as connection:
            if await connection.scalar(waiting) >= waiters:
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {waiters} waited for a lock")


def test_every_event_decodes_from_what_it_encodes() -> None:
    samples = [
        events.UserChanged(1),
        events.PasswordChanged(2),
        TweetPosted(3, author_id=4, reply_to_id=5),
        events.TweetEdited(6),
        events.TweetRemoved(((7, 8), (9, 10)), counted=(11,)),
        TweetLiked(12, 13),
        events.TweetUnliked(14, 15),
        events.FollowChanged(16, 17, following=False),
        events.NotificationsCreated(((18, 19),)),
        events.BlockChanged(20, 21, blocking=True),
        events.MuteChanged(22, 23, muting=False),
        events.MutedWordsChanged(24),
        events.UserSuspended(25, counted=(26, 27)),
        events.MediaChanged(28, tweet_id=29),
        events.MediaRemoved(("a" * 64 + ".png", "b" * 64 + ".jpg")),
        TweetPosted(28, author_id=29, quote_of_id=30),
        events.BookmarkChanged(31, 32, bookmarked=True),
        events.TweetPinned(33, 34),
        events.TweetPinned(35),
    ]
    import json

    for event in samples:
        topic, payload = events.encode(event)
        assert events.decode(topic, json.loads(json.dumps(payload))) == event
    assert events.decode("tweet.posted", {"tweet_id": 3}) == TweetPosted(3)  # an older row
    for topic, payload in [
        ("no.such", {}),
        ("tweet.liked", {"tweet_id": 1}),
        ("tweet.liked", {"tweet_id": "1", "actor_id": 2}),
        ("tweet.removed", {"tweets": [[1]]}),
        ("tweet.posted", [1]),
        ("follow.changed", {"follower_id": 1, "followee_id": 2, "following": 1}),
        ("media.removed", {"keys": [1, 2]}),
    ]:
        with pytest.raises(ValueError):
            events.decode(topic, payload)
    assert {kind.topic for kind in map(type, samples)} == set(events._KINDS)
    assert effects.stale_keys  # the mapping every event goes through
